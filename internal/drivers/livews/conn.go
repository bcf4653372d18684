package livews

import (
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Close codes of the stream (docs/live-logs.md).
const (
	CloseLagging websocket.StatusCode = 4008 // outgoing queue full: resume from the last seq
	CloseResync  websocket.StatusCode = 4009 // continuity lost (new epoch, skipped lines): resume
)

// readLimit bounds a client message; clients send none, so a small limit
// costs nothing and an oversized one is refused with 1009.
const readLimit = 4096

type connState int

const (
	buffering connState = iota // history being sent; live lines wait in pending
	live
	closing
)

type pendingLine struct {
	seq, prev uint64
	epoch     string
	frame     []byte
}

// conn is one subscriber. Its goroutines: the HTTP handler's, which sends
// the hello and history and then reads (pongs, closes, protocol errors); a
// writer that exists only while frames are queued. Pings come from one
// pinger for all subscribers. An idle subscriber is one blocked goroutine, a
// timer and no buffer of its own.
type conn struct {
	srv      *Server
	nc       *sockConn
	deviceID string

	mu           sync.Mutex
	state        connState
	epoch        string
	lastSeq      uint64 // seq of the last line queued or sent
	pending      []pendingLine
	queue        [][]byte
	writing      bool   // a goroutine (writer or flusher) owns the queue's drain
	dirty        bool   // in the flusher's next round
	reason       string // why it is closing
	awaitingPong bool
}

// deliver takes a live line for this subscriber. Never blocks on the socket.
// coalesce: the hub is coalescing writes (flush.go).
func (c *conn) deliver(seq, prev uint64, epoch string, frame []byte, more, coalesce bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case buffering:
		if len(c.pending) >= c.srv.opt.QueueFrames {
			c.failLocked(CloseLagging, reasonLagging, "lagging: resume from your last seq")
			return
		}
		c.pending = append(c.pending, pendingLine{seq, prev, epoch, frame})
	case live:
		c.liveLocked(seq, prev, epoch, frame, more, coalesce)
	}
}

// liveLocked queues a frame after the continuity checks: a line already
// sent is skipped (the history/live seam), a line whose prev is not the last
// seq sent means lines were skipped or the epoch changed, and the client must
// resume to learn which. An idle socket gets the frame at once from this
// goroutine (tryWrite), unless more lines are coming right now (then a
// writer goroutine collects them and writes them together) or the hub is
// coalescing (then the flusher's next round writes them).
func (c *conn) liveLocked(seq, prev uint64, epoch string, frame []byte, more, coalesce bool) {
	switch {
	case epoch != c.epoch:
		c.failLocked(CloseResync, reasonResync, "resync: the stream epoch changed, resume")
		return
	case seq <= c.lastSeq:
		return
	case prev != c.lastSeq:
		c.failLocked(CloseResync, reasonResync, "resync: resume from your last seq")
		return
	case len(c.queue) >= c.srv.opt.QueueFrames:
		c.failLocked(CloseLagging, reasonLagging, "lagging: resume from your last seq")
		return
	}
	c.lastSeq = seq
	if !c.writing && !c.dirty && !more && !coalesce {
		attempted, rest, err := c.nc.tryWrite(frame)
		if attempted {
			c.srv.hub.fl.writes.Add(1)
		}
		switch {
		case attempted && err != nil:
			c.failLocked(websocket.StatusInternalError, reasonError, "")
			go c.nc.Conn.Close()
			return
		case attempted:
			c.srv.metrics.delivered.Inc()
			if rest {
				c.writing = true
				go c.write()
			}
			return
		}
	}
	c.queue = append(c.queue, frame)
	c.scheduleLocked(coalesce)
}

// scheduleLocked makes sure somebody writes the queue: its owner if it has
// one, else the flusher's next round when coalescing, else a writer. A
// queue half full does not wait for the next round: at a rate that fills
// it within a round gap, its own writer drains it continuously, as in
// direct mode, rather than the subscriber being closed as lagging.
func (c *conn) scheduleLocked(coalesce bool) {
	switch {
	case c.writing:
	case coalesce && len(c.queue) < c.srv.opt.QueueFrames/2:
		if !c.dirty {
			c.dirty = true
			c.srv.hub.fl.add(c)
		}
	default:
		c.writing = true
		go c.write()
	}
}

// goLive is called after the hello and history were sent: the lines that
// arrived meanwhile go through the live checks, then the live tail flows.
func (c *conn) goLive(epoch string, lastSeq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != buffering {
		return
	}
	c.state, c.epoch, c.lastSeq = live, epoch, lastSeq
	pending := c.pending
	c.pending = nil
	for _, p := range pending {
		if c.state != live {
			break
		}
		c.liveLocked(p.seq, p.prev, p.epoch, p.frame, true, c.srv.hub.coalescing.Load())
	}
}

// write sends queued frames until the queue is empty, then ends; each
// batch goes out in one writev(2). A write that does not complete within
// LagTimeout (the peer stopped reading and the socket buffers are full)
// drops the connection: no close frame could get through anyway.
func (c *conn) write() {
	stuck := time.AfterFunc(time.Hour, func() {
		c.fail(CloseLagging, reasonLagging, "")
		c.nc.Conn.Close()
	})
	defer stuck.Stop()
	// abort ends the connection after a failed write; the writer is done.
	abort := func() {
		c.fail(websocket.StatusInternalError, reasonError, "")
		c.nc.Conn.Close()
		c.mu.Lock()
		c.writing = false
		c.mu.Unlock()
	}
	var batch [][]byte
	stuck.Reset(c.srv.opt.LagTimeout)
	if err := c.nc.writeFrames(nil); err != nil { // the rest of a frame tryWrite started
		abort()
		return
	}
	stuck.Reset(time.Hour)
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.state != live {
			c.writing = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()
		stuck.Reset(c.srv.opt.LagTimeout)
		n := 0
		for _, f := range batch {
			if f[0] == 0x81 { // lines, not pings
				n++
			}
		}
		err := c.nc.writeFrames(batch) // consumes batch's slice headers, not the frames
		c.srv.hub.fl.writes.Add(1)
		clear(batch)
		stuck.Reset(time.Hour)
		if err != nil {
			abort()
			return
		}
		c.srv.metrics.delivered.Add(float64(n))
	}
}

func (c *conn) fail(code websocket.StatusCode, reason, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failLocked(code, reason, msg)
}

// failLocked starts closing with code, once. The close frame is sent from
// another goroutine (it may wait for a frame being written); if the close
// handshake has not finished within closeWait, the socket is dropped.
func (c *conn) failLocked(code websocket.StatusCode, reason, msg string) {
	if c.state == closing {
		return
	}
	c.state, c.reason = closing, reason
	c.pending, c.queue = nil, nil
	if msg == "" {
		return
	}
	go func() {
		// The close frame waits for a frame being written; a stuck socket
		// is dropped instead. After the frame, the reader closes the
		// socket on the client's answer; the timer is the backstop.
		time.AfterFunc(2*closeWait, func() { c.nc.Conn.Close() })
		if err := c.nc.writeWithin([][]byte{closeFrame(code, msg)}, time.Now().Add(closeWait)); err != nil {
			c.nc.Conn.Close()
			return
		}
		if tc, ok := c.nc.Conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
	}()
}

// closeWait bounds a close handshake, so a lagging subscriber is gone
// within LagTimeout + closeWait.
const closeWait = time.Second

// pingFrame is an unmasked ping with no payload.
var pingFrame = []byte{0x89, 0x00}

// ping is called by the server's pinger once per PingInterval: a
// subscriber that has not answered the previous ping is dropped; the others
// get a ping, written from the pinger's goroutine. No goroutine or timer
// per subscriber waits for the pong. A subscriber whose writer is busy is
// skipped: its socket is in use, and the writer's own stuck timer catches a
// dead peer. Otherwise the socket buffer has room (the last write
// finished), so the 2-byte write does not block; a write that still cannot
// finish within pingWriteWait means the peer stopped reading.
func (c *conn) ping() {
	c.mu.Lock()
	if c.state != live || c.writing {
		c.mu.Unlock()
		return
	}
	if c.awaitingPong {
		c.failLocked(0, reasonPing, "")
		c.mu.Unlock()
		c.nc.Conn.Close() // the peer is gone: no close frame
		return
	}
	c.awaitingPong = true
	c.mu.Unlock()
	if err := c.nc.writeWithin([][]byte{pingFrame}, time.Now().Add(pingWriteWait)); err != nil {
		c.fail(0, reasonLagging, "")
		c.nc.Conn.Close()
	}
}

const pingWriteWait = 100 * time.Millisecond

// pong is called by the reader for each pong frame.
func (c *conn) pong() {
	c.mu.Lock()
	c.awaitingPong = false
	c.mu.Unlock()
}
