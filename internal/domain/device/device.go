// Package device is the device aggregate: devices that belong to an account,
// their credentials, and the ingestion of their uplinks (authenticate,
// validate, broadcast, persist, answer with the downlink slot).
package device

import (
	"time"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// Device is a connected thing. Only a hash of its key is kept; its DTLS PSK is
// derived from the installation secret, the id and KeyGeneration, so it is
// never stored either.
type Device struct {
	ID            string
	AccountID     string
	Name          string
	KeyHash       string
	KeyGeneration int64
	Disabled      bool
	Generation    int64
	// EnrolledWith is the provisioning key that created the device ("" for
	// devices made with Create); such devices have a derived key.
	EnrolledWith string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Event types this aggregate records.
const (
	EventCreated  = "device.created"
	EventDisabled = "device.disabled"
	EventDeleted  = "device.deleted"
)

// MaxNameLen bounds a device name; the schema documents the same number.
const MaxNameLen = 64

func validateName(op, name string) error {
	if name == "" {
		return domain.Errorf(domain.CodeInvalid, op, "name: required")
	}
	if len(name) > MaxNameLen || !utf8.ValidString(name) {
		return domain.Errorf(domain.CodeInvalid, op, "name: at most %d bytes of UTF-8", MaxNameLen)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return domain.Errorf(domain.CodeInvalid, op, "name: control characters are not allowed")
		}
	}
	return nil
}

func deviceEvent(typ string, d Device, now time.Time) domain.Event {
	d.KeyHash = "" // the hash never leaves the store
	return domain.Event{
		ID: domain.NewID(), Type: typ, AggregateID: d.ID, AggregateVersion: d.Generation,
		Time: now, Data: d,
	}
}
