package relay

import (
	"context"
	"encoding/json"
	"sync"
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
	creator *browser // opened the upstream with its own start: gets that hello verbatim
	pending []*browser
	subs    map[*browser]struct{}
	failed  bool
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

// attach gives b its hello and history (or the upstream's own hello) and
// subscribes it to what follows. f.mu is held, so no line can slip between
// the history and the live tail.
func (f *feed) attach(b *browser, upstream *hello) {
	h, hist := greet(f.id, f.epoch, f.pos, &f.ring, b.start)
	if upstream != nil {
		h, hist = *upstream, nil
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
				if b == f.creator {
					f.attach(b, up)
				} else {
					f.attach(b, nil)
				}
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
			b.send(ev.Raw)
		}
		f.m.delivered.Add(float64(len(f.subs)))
	case UpGap:
		f.m.gaps.Inc()
		if !f.ready {
			return // the first hello says it
		}
		if ev.Epoch != f.epoch {
			f.ring.reset()
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
