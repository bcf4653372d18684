package domain

import (
	"strings"
	"time"
)

// Event is a fact a use case recorded. It is written to the outbox in the same
// transaction as the state it describes, then relayed to the bus, where its ID
// is the dedupe key and (AggregateID, AggregateVersion) the order key.
type Event struct {
	ID               string
	Type             string // "<aggregate>.<verb>", e.g. "account.created"
	AggregateID      string
	AggregateVersion int64
	Time             time.Time
	// Data is the payload: a value of one of the domain types the event codec
	// knows for Type (account.Account for "account.created", ...).
	Data any
}

// Subject is where the event is published: one subject per aggregate keeps
// per-aggregate order and lets consumers filter by aggregate kind.
func (e Event) Subject() string {
	kind, verb, _ := strings.Cut(e.Type, ".")
	return "liveplane.events." + kind + "." + e.AggregateID + "." + verb
}

// OutboxEntry is an event as the outbox holds it: encoded once, at commit.
type OutboxEntry struct {
	Seq     int64 // commit order in the store
	ID      string
	Subject string
	Data    []byte // encoded envelope
}
