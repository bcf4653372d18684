package livews

import (
	"sync"

	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// hub fans the feed out to this replica's subscribers. The feed (one
// consumer per process over every device's subject) calls dispatch from one
// goroutine; dispatch encodes a line once, only when someone watches its
// device, and hands the same bytes to each subscriber's queue without ever
// blocking on a socket: a slow subscriber is closed, never waited for.
type hub struct {
	mu   sync.RWMutex
	subs map[string][]*conn // device id -> its subscribers
}

func newHub() *hub { return &hub{subs: map[string][]*conn{}} }

func (h *hub) add(c *conn) {
	h.mu.Lock()
	h.subs[c.deviceID] = append(h.subs[c.deviceID], c)
	h.mu.Unlock()
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.subs[c.deviceID]
	for i, x := range list {
		if x == c {
			last := len(list) - 1
			list[i] = list[last]
			list[last] = nil
			list = list[:last]
			break
		}
	}
	if len(list) == 0 {
		delete(h.subs, c.deviceID)
	} else {
		h.subs[c.deviceID] = list
	}
}

func (h *hub) dispatch(e livelog.Entry) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	list := h.subs[e.DeviceID]
	if len(list) == 0 {
		return
	}
	frame := lineFrame(e)
	if frame == nil {
		return
	}
	for _, c := range list {
		c.deliver(e.Seq, e.Prev, e.Epoch, frame, e.More)
	}
}

func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, l := range h.subs {
		n += len(l)
	}
	return n
}
