// Package account is the tenant aggregate: accounts, their API keys, and who
// may do what with them.
package account

import (
	"time"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// State is where an account stands in its lifecycle.
type State string

const (
	StateProvisioning State = "PROVISIONING"
	StateReady        State = "READY"
	StateDegraded     State = "DEGRADED"
	StateDeleting     State = "DELETING"
)

// Account is a tenant. Name is immutable and unique: it becomes part of
// Kubernetes namespace names, so it must stay a DNS label once prefixed.
type Account struct {
	ID          string
	Name        string
	DisplayName string
	State       State
	Generation  int64 // bumped on every spec change; clusters report against it
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// APIKey authenticates calls for one account. Only Hash is stored.
type APIKey struct {
	ID          string
	AccountID   string
	Description string
	Hash        string
	CreatedAt   time.Time
	RevokedAt   time.Time // zero while valid
}

// Revoked reports whether the key no longer authenticates.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// Limits on account fields; the schema documents the same numbers.
const (
	MaxNameLen        = 40 // leaves room for a "lp-" prefix within a 63-byte DNS label
	MaxDisplayNameLen = 200
	MaxDescriptionLen = 200
)

// ValidateName enforces RFC 1123 label rules: lower-case letters, digits and
// '-', starting with a letter, not ending with '-'.
func ValidateName(op, name string) error {
	if name == "" {
		return domain.Errorf(domain.CodeInvalid, op, "name: required")
	}
	if len(name) > MaxNameLen {
		return domain.Errorf(domain.CodeInvalid, op, "name: at most %d characters", MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := c >= 'a' && c <= 'z'
		digit := c >= '0' && c <= '9'
		switch {
		case i == 0 && !letter:
			return domain.Errorf(domain.CodeInvalid, op, "name: must start with a lower-case letter")
		case !letter && !digit && c != '-':
			return domain.Errorf(domain.CodeInvalid, op, "name: only lower-case letters, digits and '-' are allowed")
		}
	}
	if name[len(name)-1] == '-' {
		return domain.Errorf(domain.CodeInvalid, op, "name: must not end with '-'")
	}
	return nil
}

func validateText(op, field, s string, max int) error {
	if !utf8.ValidString(s) {
		return domain.Errorf(domain.CodeInvalid, op, "%s: not valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > max {
		return domain.Errorf(domain.CodeInvalid, op, "%s: at most %d characters", field, max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return domain.Errorf(domain.CodeInvalid, op, "%s: control characters are not allowed", field)
		}
	}
	return nil
}
