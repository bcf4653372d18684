package pickupgw

import (
	"context"
	"sync"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// Hub is this instance's side of the pickup Notifier: it hands deliveries
// and revocations to the local socket they name. The composition root
// routes those for other instances over the bus and calls the Hub with
// what arrives.
type Hub struct {
	mu      sync.RWMutex
	sockets map[string]*socket
	dropped func(reason string)
}

// NewHub returns an empty hub. dropped, when not nil, counts deliveries that
// found no socket to go to (they stay in flight and come back later).
func NewHub(dropped func(reason string)) *Hub {
	if dropped == nil {
		dropped = func(string) {}
	}
	return &Hub{sockets: map[string]*socket{}, dropped: dropped}
}

var _ pickup.Notifier = (*Hub)(nil)

func (h *Hub) add(s *socket) {
	h.mu.Lock()
	h.sockets[s.client.Holder.Socket] = s
	h.mu.Unlock()
}

func (h *Hub) remove(s *socket) {
	h.mu.Lock()
	delete(h.sockets, s.client.Holder.Socket)
	h.mu.Unlock()
}

func (h *Hub) socket(id string) *socket {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.sockets[id]
}

// Deliver sends d as one messagesReceived notification to the socket
// holding d's lease, unless that lease was revoked meanwhile or the socket
// unsubscribed. It never blocks.
func (h *Hub) Deliver(_ context.Context, d pickup.Delivery) {
	s := h.socket(d.Lease.Holder.Socket)
	if s == nil {
		h.dropped("no_socket")
		return
	}
	if reason := s.deliver(d); reason != "" {
		h.dropped(reason)
	}
}

// Revoke records that the socket's lease on a connection ended at r.Epoch:
// deliveries for that epoch or older are dropped from now on.
func (h *Hub) Revoke(_ context.Context, r pickup.Revocation) {
	if s := h.socket(r.Holder.Socket); s != nil {
		s.revoke(connID(r.Account, r.ConnectionID), r.Epoch)
	}
}

// Sockets is how many sockets are open.
func (h *Hub) Sockets() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.sockets)
}

func connID(account, conn string) string { return account + "\x00" + conn }

// appendNotification writes the messagesReceived notification for d.
func appendNotification(b []byte, d pickup.Delivery) []byte {
	b = append(b, `{"jsonrpc":"2.0","method":"messagesReceived","params":{"connectionId":`...)
	b = appendString(b, d.Lease.ConnectionID)
	b = append(b, `,"messages":`...)
	b = appendMessages(b, d.Messages)
	return append(b, "}}"...)
}
