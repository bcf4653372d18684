package relay

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// feed is one device's upstream and the browsers watching it. The relay
// opens one upstream per device, whatever the number of browsers.
type feed struct {
	id     string
	cancel context.CancelFunc
	m      *metrics

	mu      sync.Mutex
	ready   bool // the upstream's first hello arrived
	epoch   string
	pos     uint64 // seq of the last line forwarded, or the hello's lastSeq
	ring    ring
	opened  Start // what the upstream was opened with
	pending []*browser
	subs    map[*browser]struct{}
	failed  bool
	idle    *time.Timer // set while no browser is attached (the relay's lock)
}

func newFeed(id string, ringSize int, m *metrics) *feed {
	return &feed{id: id, m: m, ring: newRing(ringSize), subs: map[*browser]struct{}{}}
}

// add attaches b: at once if the upstream is live, else at its hello.
// Called with the relay's registry lock held.
func (f *feed) add(b *browser) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed {
		b.stop(closeUpstream)
		return
	}
	if !f.ready {
		f.pending = append(f.pending, b)
		return
	}
	f.attach(b, nil)
}

// remove detaches b and reports whether no browser is left.
func (f *feed) remove(b *browser) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, b)
	for i, p := range f.pending {
		if p == b {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			break
		}
	}
	return len(f.subs) == 0 && len(f.pending) == 0
}

// upstreamStart picks where to open the upstream so that every browser
// waiting for it can be served: the lowest resume position of the first
// browser's epoch, else the largest history asked for.
func (f *feed) upstreamStart() Start {
	f.mu.Lock()
	defer f.mu.Unlock()
	var st Start
	for _, b := range f.pending {
		s := b.start
		switch {
		case s.Epoch != "" && st.Epoch == "":
			st = s
		case s.Epoch != "" && s.Epoch == st.Epoch:
			st.Seq = min(st.Seq, s.Seq)
		case s.Epoch == "" && st.Epoch == "":
			st.Last = max(st.Last, s.Last)
		}
	}
	f.opened = st
	return st
}

// attach gives b its hello and history and subscribes it to what follows.
// f.mu is held, so no line can slip between the history and the live tail.
// upstream is the upstream's first hello when b waited for it.
func (f *feed) attach(b *browser, upstream *hello) {
	h, hist := greet(f.id, f.epoch, f.pos, &f.ring, b.start)
	if upstream != nil && !upstream.Recovered && b.start.Epoch != "" {
		// What serve could not deliver from the upstream's start; a
		// browser that was already past the gap lost nothing.
		past := upstream.Gap != nil && upstream.Gap.BeforeSeq != 0 && b.start.Epoch == upstream.Epoch &&
			b.start.Seq >= upstream.Gap.BeforeSeq-1
		if !past {
			h = *upstream
		}
	}
	if h.Recovered && b.start.Epoch == f.epoch && b.start.Seq > h.LastSeq {
		// Ahead of the feed (the upstream opened lower for another
		// browser): skip what this one already has.
		b.skip = b.start.Seq
		h.LastSeq = b.start.Seq
	}
	first, _ := json.Marshal(h)
	frames := make([][]byte, 0, 1+len(hist))
	frames = append(frames, first)
	for _, e := range hist {
		frames = append(frames, e.raw)
	}
	b.begin(frames)
	f.subs[b] = struct{}{}
}

// on is the upstream's event handler: one goroutine, in order.
func (f *feed) on(ev UpstreamEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Kind {
	case UpLive:
		if !f.ready {
			f.ready, f.epoch, f.pos = true, ev.Epoch, ev.LastSeq
			up := &hello{Type: "hello", DeviceID: f.id, Epoch: ev.Epoch, Recovered: ev.Recovered, Reason: ev.Reason, LastSeq: ev.LastSeq}
			if ev.Reason == "window" {
				up.Gap = &span{AfterSeq: ev.AfterSeq, BeforeSeq: ev.BeforeSeq}
			}
			for _, b := range f.pending {
				f.attach(b, up)
			}
			f.pending = nil
			return
		}
		f.epoch, f.pos = ev.Epoch, ev.LastSeq
		f.broadcast(control{Type: "live", DeviceID: f.id, Epoch: ev.Epoch, LastSeq: ev.LastSeq})
	case UpLine:
		if !f.ready {
			return // cannot happen: a hello comes first
		}
		f.ring.push(entry{seq: ev.Seq, prev: ev.Prev, raw: ev.Raw})
		f.pos = ev.Seq
		for b := range f.subs {
			if ev.Seq > b.skip {
				b.send(ev.Raw)
				f.m.delivered.Inc()
			}
		}
	case UpGap:
		f.m.gaps.Inc()
		if !f.ready {
			return // the first hello says it
		}
		if ev.Epoch != f.epoch {
			f.ring.reset()
			for b := range f.subs {
				b.skip = 0
			}
		}
		c := control{Type: "gap", DeviceID: f.id, Epoch: ev.Epoch, Reason: ev.Reason}
		if ev.AfterSeq != 0 || ev.BeforeSeq != 0 {
			c.Gap = &span{AfterSeq: ev.AfterSeq, BeforeSeq: ev.BeforeSeq}
		}
		f.broadcast(c)
	case UpReconnecting:
		f.m.reconnects.Inc()
		if f.ready {
			f.broadcast(control{Type: "reconnecting", DeviceID: f.id, Attempt: ev.Attempt,
				DelayMS: ev.Delay.Milliseconds(), Error: "upstream connection lost"})
		}
	}
}

// fail closes every browser: the upstream cannot go on.
func (f *feed) fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	for b := range f.subs {
		b.stop(closeUpstream)
	}
	for _, b := range f.pending {
		b.stop(closeUpstream)
	}
}

// broadcast encodes c once for every browser. f.mu is held.
func (f *feed) broadcast(c control) {
	b, _ := json.Marshal(c)
	for s := range f.subs {
		s.send(b)
	}
}

// control is a relay notice to browsers (docs/live-logs.md, The relay).
type control struct {
	Type     string `json:"type"`
	DeviceID string `json:"deviceId"`
	Epoch    string `json:"epoch,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Gap      *span  `json:"gap,omitempty"`
	LastSeq  uint64 `json:"lastSeq,omitempty"`
	Attempt  int    `json:"attempt,omitempty"`
	DelayMS  int64  `json:"delayMs,omitempty"`
	Error    string `json:"error,omitempty"`
}
