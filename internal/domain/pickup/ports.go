package pickup

import (
	"context"
	"time"
)

// Store is the durable side of the repository. Every method is one
// transaction; "returned nil" means committed. Per-connection operations are
// serialised against each other (SQLite: one writer; PostgreSQL: the
// connection's row is locked first), so a connection's counters, lease and
// messages always agree. Errors carry domain codes: CodeUnavailable when the
// database cannot be reached, CodeInternal otherwise.
type Store interface {
	// AddMessages stores msgs in one transaction, in order. A message whose
	// connection would exceed p.Limits gets its own error in the result (and
	// nothing of it is stored); the others commit. A message for a
	// connection with a healthy lease goes in flight to that lease (result
	// Live set) until p.AckDeadline; otherwise, with a push token, it claims
	// the token's notification window (result Push set) when that window is
	// free.
	AddMessages(ctx context.Context, p AddParams, msgs []NewMessage) ([]AddResult, error)

	// Take returns pending messages of a connection in FIFO order, narrowed
	// to RecipientDID when set, at most Limit of them and at most LimitBytes
	// bytes in total (zero: no byte limit); it stops at the first message
	// that does not fit, never skipping ahead. With Delete they are removed
	// in the same transaction; otherwise they go in flight to By until
	// Deadline.
	Take(ctx context.Context, q TakeQuery) ([]Message, error)
	// AvailableCount counts pending messages, narrowed to recipientDID when
	// it is not empty. Without a DID it reads a counter.
	AvailableCount(ctx context.Context, account, connectionID, recipientDID string) (int64, error)
	// RemoveMessages applies removals in one transaction. Each deletes its
	// listed messages that are pending or in flight to its socket (never
	// those in flight to another socket); the counts come back in order.
	// Unknown ids are ignored.
	RemoveMessages(ctx context.Context, rs []Removal) ([]int64, error)
	// RemoveAll deletes every message of the connection that lists
	// recipientDID, whatever its state.
	RemoveAll(ctx context.Context, account, connectionID, recipientDID string) (int64, error)

	// StartSession gives the connection's lease to l.Holder with the next
	// epoch and returns it with the lease it replaced (zero when none).
	// Messages in flight to the replaced lease get a deadline of at most
	// graceUntil.
	StartSession(ctx context.Context, l Lease, graceUntil time.Time) (Lease, Lease, error)
	// EndSession ends the lease if by holds it and, when sessionID is not
	// empty, it is that session; it reports whether it did. Its in-flight
	// messages get a deadline of at most graceUntil.
	EndSession(ctx context.Context, account, connectionID, sessionID string, by Holder, graceUntil time.Time) (Lease, bool, error)
	// EndHolder ends every lease by holds (its socket closed).
	EndHolder(ctx context.Context, by Holder, graceUntil time.Time) ([]Lease, error)
	// LiveSession returns the connection's lease if it is held by an
	// instance whose heartbeat is current at now.
	LiveSession(ctx context.Context, account, connectionID string, now time.Time) (Lease, bool, error)
	// Claim puts pending messages in flight to l until deadline, FIFO: the
	// first one whatever its size, then more while they fit in maxCount and
	// maxBytes. It claims nothing unless l is still the connection's lease.
	Claim(ctx context.Context, l Lease, deadline time.Time, maxCount, maxBytes int) ([]Message, error)
	// PendingLeases returns the leases held by instance's sockets whose
	// connections have pending messages (added while the instance's
	// heartbeat had lapsed, say), at most limit.
	PendingLeases(ctx context.Context, instance string, limit int) ([]Lease, error)
	// Requeue makes in-flight messages whose deadline is before now pending
	// again, at most limit of them, and returns the leases of the
	// connections that got messages back and have a healthy holder.
	Requeue(ctx context.Context, now time.Time, limit int) ([]Lease, error)
	// Expire deletes messages received before cutoff, at most limit.
	Expire(ctx context.Context, cutoff time.Time, limit int) (int64, error)

	// Heartbeat records that instance is alive until until.
	Heartbeat(ctx context.Context, instance string, until time.Time) error
	// Leave removes instance's heartbeat: its leases stop counting as live.
	Leave(ctx context.Context, instance string) error

	// DuePushes leases up to limit notifications whose time has come (so
	// other instances skip them) until leaseUntil, counting an attempt.
	DuePushes(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Push, error)
	// FinishPush records a notification's outcome, unless a newer window
	// replaced it meanwhile.
	FinishPush(ctx context.Context, p Push, o PushOutcome) error
}

// Limits bound each connection's queue.
type Limits struct {
	MaxMessages int64
	MaxBytes    int64
}

// AddParams are the settings of one AddMessages call.
type AddParams struct {
	Now         time.Time
	Limits      Limits
	AckDeadline time.Time     // for messages that go in flight to a live session
	PushWindow  time.Duration // one notification per token per window
}

// NewMessage is a message to store.
type NewMessage struct {
	Message
	Push *PushToken
}

// AddResult is the outcome for one NewMessage.
type AddResult struct {
	Err  error // the message was refused (quota); nothing of it was stored
	Seq  int64
	Live *Lease // set when it went in flight to this lease
	Push bool   // it claimed a notification (a Push row is due)
}

// Removal is one removeMessages call.
type Removal struct {
	Account, ConnectionID string
	IDs                   []string
	By                    Holder
}

// TakeQuery selects messages to take.
type TakeQuery struct {
	Account, ConnectionID, RecipientDID string
	Limit                               int
	LimitBytes                          int
	Delete                              bool
	By                                  Holder
	Deadline                            time.Time
}

// Notifier carries deliveries and revocations to the instance holding a
// lease. Both are best effort and must not block: what is lost stays in
// flight in the store and comes back when its deadline passes.
type Notifier interface {
	Deliver(ctx context.Context, d Delivery)
	Revoke(ctx context.Context, r Revocation)
}

// Pusher sends one notification. It returns nil on success; an error marked
// Retryable (5xx, 429, timeouts, connection failures) is retried with
// backoff, any other error is final.
type Pusher interface {
	Push(ctx context.Context, n Notification) error
}
