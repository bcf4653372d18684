package livews

import (
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Adaptive write coalescing.
//
// While the hub keeps up, a live line is written to each idle subscriber at
// once, one write(2) each from the hub's goroutine (conn.liveLocked): the
// lowest latency. On loopback that write costs ~10 µs of kernel time, so a
// line for 1,000 subscribers costs 10 ms, and 100 such lines a second take
// the whole core. When the direct writes take more than coalesceAbove of the
// hub's time (measured over dutyWindow), the hub switches to coalescing:
// dispatch only appends the line to each subscriber's queue and marks it
// dirty, and one flusher goroutine writes every dirty subscriber's queue in
// rounds, one writev(2) per subscriber per round carrying all the lines
// queued since its last round. Rounds are paced: the next one starts
// 1/roundDuty times the last one's duration after it started (at most
// MaxFlushDelay later), so writing takes about half of the core and each
// writev carries the lines of one round gap. Syscalls per delivered line
// drop to 1/(lines per round). The hub goes back to direct writes when the
// estimated cost of writing directly falls under directBelow.
//
// The price is latency: a line waits for the next round (at most
// MaxFlushDelay, default 20 ms) plus its place in that round. Nothing else
// changes for a subscriber: the same frames in the same order, the same
// bounded queue (4008 when it fills), and a socket that does not take a
// whole writev is handed to its own writer goroutine (stuck timer and all),
// so the flusher never waits for one subscriber. Idle subscribers are not
// in any round, and the flusher goroutine exists only while some
// subscriber is dirty.
//
// This is nats-server's producer-side flush of the clients it delivered to
// (the flush is deferred to the end of a batch, one write per client) with
// centrifuge's write delay made adaptive: the delay is only paid when
// writing one line at a time would not keep up.
const (
	dutyWindow    = 50 * time.Millisecond
	coalesceAbove = 0.30 // share of the hub's time spent in direct writes that starts coalescing
	directBelow   = 0.10 // estimated share under which direct writes resume
	roundDuty     = 0.5  // rounds take about this share of the time
	// DefaultMaxFlushDelay bounds the pause between two flush rounds.
	DefaultMaxFlushDelay = 20 * time.Millisecond
	// yieldEvery lets the feed and the other goroutines of a one-core
	// server run during a long round.
	yieldEvery = 128
)

// flusher is the hub's coalescing state.
type flusher struct {
	h *hub

	mu      sync.Mutex
	dirty   []*conn
	running bool // a flusher goroutine exists

	// Dispatch's goroutine only: the current duty window.
	winStart  time.Time
	winBusy   time.Duration // direct fan-out time
	winFrames int64         // lines handed to subscribers while coalescing
	perLine   time.Duration // moving average of a direct write's share of a fan-out

	perWrite atomic.Int64 // ns per writev in the last round (0: none yet)
	writes   atomic.Int64 // every write(2)/writev(2) of line frames, all paths
	rounds   atomic.Int64
	busy     atomic.Int64 // ns spent in rounds
}

// add puts c (whose mu is held, marked dirty) in the next round.
func (f *flusher) add(c *conn) {
	f.mu.Lock()
	f.dirty = append(f.dirty, c)
	if !f.running {
		f.running = true
		go f.run()
	}
	f.mu.Unlock()
}

// run writes rounds until a round finds nobody dirty.
func (f *flusher) run() {
	var batch []*conn
	var iov []syscall.Iovec
	var next time.Time
	maxGap := f.h.maxFlushDelay
	for {
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		f.mu.Lock()
		batch, f.dirty = f.dirty, batch[:0]
		if len(batch) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		start := time.Now()
		writes := 0
		for i, c := range batch {
			var w bool
			w, iov = c.flushQueued(iov)
			if w {
				writes++
			}
			batch[i] = nil
			if i%yieldEvery == yieldEvery-1 {
				runtime.Gosched()
			}
		}
		took := time.Since(start)
		if writes > 0 {
			f.perWrite.Store(int64(took) / int64(writes))
		}
		f.writes.Add(int64(writes))
		f.rounds.Add(1)
		f.busy.Add(int64(took))
		next = start.Add(min(time.Duration(float64(took)/roundDuty), maxGap))
	}
}

// account is called by dispatch for each line (one goroutine): it adds the
// line's direct fan-out time or coalesced deliveries to the window, and at
// the end of a window picks the mode for the next one.
func (f *flusher) account(start, end time.Time, subs int, coalesced bool) {
	if f.winStart.IsZero() {
		f.winStart = start
	}
	if coalesced {
		f.winFrames += int64(subs)
	} else {
		d := end.Sub(start)
		f.winBusy += d
		if f.perLine == 0 {
			f.perLine = d / time.Duration(subs)
		}
		f.perLine += (d/time.Duration(subs) - f.perLine) / 8
	}
	el := end.Sub(f.winStart)
	if el < dutyWindow {
		return
	}
	switch {
	case !f.h.coalescing.Load():
		if float64(f.winBusy) > coalesceAbove*float64(el) {
			f.h.coalescing.Store(true)
		}
	default:
		// Would direct writes keep up now? At what they cost before the
		// switch (or, failing that, what a coalesced writev did: more).
		pw := int64(f.perLine)
		if pw == 0 {
			pw = f.perWrite.Load()
		}
		if pw > 0 && float64(f.winFrames*pw) < directBelow*float64(el) {
			f.h.coalescing.Store(false)
		}
	}
	f.winStart, f.winBusy, f.winFrames = end, 0, 0
}

// flushQueued writes c's queue with one non-blocking writev, from the
// flusher's goroutine. What the socket does not take goes to c's own
// writer goroutine, as in direct mode. wrote reports a syscall.
func (c *conn) flushQueued(iov []syscall.Iovec) (wrote bool, _ []syscall.Iovec) {
	c.mu.Lock()
	c.dirty = false
	if c.state != live {
		c.queue = nil
		c.mu.Unlock()
		return false, iov
	}
	if c.writing || len(c.queue) == 0 { // a writer owns the queue
		c.mu.Unlock()
		return false, iov
	}
	batch := c.queue
	c.queue = nil
	c.writing = true
	c.mu.Unlock()

	attempted, sent, rest, iov, err := c.nc.tryWritev(batch, iov)
	if sent > 0 {
		c.srv.metrics.delivered.Add(float64(sent))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case attempted && err != nil:
		c.writing = false
		c.failLocked(0, reasonError, "")
		go c.nc.Conn.Close()
		return true, iov
	case !attempted || rest || sent < len(batch):
		if rest {
			c.srv.metrics.delivered.Inc() // its tail goes out first, whatever follows
			sent++
		}
		if c.state == live {
			c.queue = append(batch[sent:len(batch):len(batch)], c.queue...)
		}
		go c.write()
		return attempted, iov
	}
	c.writing = false
	if len(c.queue) > 0 { // lines queued during the write
		c.scheduleLocked(c.srv.hub.coalescing.Load())
	}
	return true, iov
}
