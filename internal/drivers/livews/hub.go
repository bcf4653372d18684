package livews

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// hub fans the feed out to this replica's subscribers. The feed (one
// consumer per process over every device's subject) calls dispatch from one
// goroutine; dispatch encodes a line once, only when someone watches its
// device, and hands the same bytes to each subscriber's queue without ever
// blocking on a socket: a slow subscriber is closed, never waited for.
// Each subscriber gets the line written at once, or, when that does not
// keep up, in the flusher's next round (flush.go).
type hub struct {
	mu   sync.RWMutex
	subs map[string][]*conn // device id -> its subscribers

	coalescing    atomic.Bool // lines go to the flusher's rounds, not straight to sockets
	maxFlushDelay time.Duration
	fl            flusher
}

func newHub(maxFlushDelay time.Duration) *hub {
	h := &hub{subs: map[string][]*conn{}, maxFlushDelay: maxFlushDelay}
	h.fl.h = h
	return h
}

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
	list := h.subs[e.DeviceID]
	if len(list) == 0 {
		h.mu.RUnlock()
		return
	}
	frame := lineFrame(e)
	if frame == nil {
		h.mu.RUnlock()
		return
	}
	coalesce := h.coalescing.Load()
	start := time.Now()
	for _, c := range list {
		c.deliver(e.Seq, e.Prev, e.Epoch, frame, e.More, coalesce)
	}
	n := len(list)
	h.mu.RUnlock()
	h.fl.account(start, time.Now(), n, coalesce)
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
