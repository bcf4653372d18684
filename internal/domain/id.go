package domain

import (
	"time"

	"github.com/google/uuid"
)

// NewID returns a UUIDv7: unique across replicas and ordered by creation time,
// so ids make good keyset-pagination cursors.
func NewID() string { return uuid.Must(uuid.NewV7()).String() }

// ValidID reports whether s is a canonical UUID string.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// Clock is the time source of use cases; tests inject a fixed one.
type Clock interface{ Now() time.Time }

// SystemClock reads the wall clock, truncated to microseconds so values
// survive a round trip through either SQL engine unchanged.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
