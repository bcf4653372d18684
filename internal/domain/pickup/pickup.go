// Package pickup is the message pickup repository: durable per-connection
// queues of encrypted DIDComm messages that mediator instances share, live
// sessions held as leases by gateway sockets, and push notifications for
// recipients nobody holds.
//
// The model, in the words of the use cases:
//
//   - A queue belongs to (account, connection id). Messages get a server
//     sequence at commit; a queue is FIFO by that sequence.
//   - A message is pending, or in flight (to a live session at an epoch, or to
//     the socket that took it, until a deadline), or deleted. In-flight
//     messages whose deadline passes are pending again: delivery is at least
//     once, and a message is gone only when a client removes it or a take
//     with deleteMessages returns it.
//   - A live session is a lease on a connection, held by one gateway socket.
//     Each addLiveSession takes the lease with a new epoch; anything the
//     superseded holder does later (remove the session, remove in-flight
//     messages of the new holder) is a no-op, and what was in flight to it
//     moves to the new holder after a grace period.
//   - With no healthy live session, a message with a push token claims one
//     notification per token per window, across every instance on the store.
package pickup

import (
	"time"
)

// Message is a queued message.
type Message struct {
	ID            string
	Seq           int64 // server sequence: FIFO order within a connection
	Account       string
	ConnectionID  string
	RecipientDIDs []string
	// Payload is the encrypted message as compact JSON, stored and returned
	// byte for byte. Its length is the message's size for limitBytes and
	// the quotas.
	Payload    []byte
	ReceivedAt time.Time
}

// Size is what the message counts against byte limits.
func (m Message) Size() int { return len(m.Payload) }

// PushToken says how to wake a recipient: Type picks the provider ("fcm",
// "apns", "webhook"), Token addresses the device (a webhook's token is its URL).
type PushToken struct {
	Type  string
	Token string
}

// Holder is a gateway socket: the unit that takes messages and holds live
// sessions. Socket ids are unique across instances and restarts.
type Holder struct {
	Instance string // the gateway process, which heartbeats in the store
	Socket   string
}

// Lease is a connection's live session.
type Lease struct {
	Account      string
	ConnectionID string
	SessionID    string
	Epoch        int64 // grows by one on every addLiveSession of the connection
	Holder       Holder
}

// Held reports whether l names a session.
func (l Lease) Held() bool { return l.SessionID != "" }

// Delivery is a batch of messages in flight to one lease, for the socket
// holding it to send as one messagesReceived notification.
type Delivery struct {
	Lease    Lease
	Messages []Message
	// Backlog marks what Drain hands out: messages that were pending when
	// the lease claimed them (queued before the session, or returned to
	// it). Live deliveries, made as messages are added, leave it false;
	// the holder sends them only after the backlog, so the session sees
	// the connection's messages in queue order.
	Backlog bool
}

// Revocation tells a holder that its lease on a connection ended at Epoch
// (taken over or removed): deliveries for that epoch or older must not be sent.
type Revocation struct {
	Holder       Holder
	Account      string
	ConnectionID string
	Epoch        int64
}
