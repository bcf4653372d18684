package relay

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Why a browser is closed by the relay.
type closeReason struct {
	code   websocket.StatusCode
	label  string // metric label
	reason string // close frame text
}

var (
	closeLagging  = closeReason{4008, "lagging", "lagging: resume from the last seq"}
	closeUpstream = closeReason{websocket.StatusInternalError, "upstream", "the device's stream is unavailable"}
	closeShutdown = closeReason{websocket.StatusGoingAway, "shutdown", "relay shutting down"}
	closeProtocol = closeReason{websocket.StatusUnsupportedData, "protocol", "no data messages expected"}
	closeNoHello  = closeReason{websocket.StatusTryAgainLater, "unavailable", "the device's stream did not answer"}
)

// browser is one browser socket: a bounded queue the feed fills without
// ever blocking, drained by the socket's writer.
type browser struct {
	start Start
	q     chan []byte
	skip  uint64 // lines up to this seq are not sent (it has them); feed's lock

	initOnce sync.Once
	initial  [][]byte      // hello and history, written before the queue
	attached chan struct{} // closed once initial is set

	stopOnce sync.Once
	why      closeReason
	stopped  chan struct{}
}

func newBrowser(start Start, queue int) *browser {
	return &browser{start: start, q: make(chan []byte, queue), attached: make(chan struct{}), stopped: make(chan struct{})}
}

// begin hands the browser its first frames. Called under the feed's lock.
func (b *browser) begin(frames [][]byte) {
	b.initOnce.Do(func() {
		b.initial = frames
		close(b.attached)
	})
}

// send queues a frame; a full queue means the browser does not keep up,
// and it is closed as lagging (it resumes from its last seq).
func (b *browser) send(frame []byte) {
	select {
	case b.q <- frame:
	default:
		b.stop(closeLagging)
	}
}

func (b *browser) stop(why closeReason) {
	b.stopOnce.Do(func() {
		b.why = why
		close(b.stopped)
	})
}

// pump writes the browser's frames until it leaves or is stopped. It owns
// conn's writes; a reader and a pinger run beside it.
// raw, when known, is the TCP connection under conn: closing it is the only
// way to bound a close handshake with a peer that stopped reading.
func (r *Relay) pump(ctx context.Context, conn *websocket.Conn, raw net.Conn, b *browser) closeReason {
	kill := func() {
		if raw != nil {
			raw.Close()
		} else {
			conn.CloseNow()
		}
	}
	// The reader and pinger live until pump returns: cancelling a read
	// would cut the connection before the 1001 goes out on shutdown.
	shutdown := ctx.Done()
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	left := make(chan struct{})
	go func() { // reader: answers pings and close frames; data is a protocol error
		defer close(left)
		conn.SetReadLimit(4096)
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				return
			}
			b.stop(closeProtocol)
		}
	}()
	go func() { // pinger: a browser that vanished without a close frame goes
		t := time.NewTicker(r.opts.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(ctx, r.opts.PingInterval)
				err := conn.Ping(pctx)
				pcancel()
				if err != nil {
					conn.CloseNow()
					return
				}
			}
		}
	}()
	// Writes are cut short when the browser is stopped: a socket stuck on a
	// browser that stopped reading must not hold the close past 2 s.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() {
		select {
		case <-b.stopped:
			time.AfterFunc(2*time.Second, wcancel)
		case <-wctx.Done():
		}
	}()
	write := func(frame []byte) bool { return conn.Write(wctx, websocket.MessageText, frame) == nil }

	timer := time.NewTimer(r.opts.HelloWait)
	defer timer.Stop()
	select {
	case <-b.attached:
	case <-timer.C:
		b.stop(closeNoHello)
	case <-b.stopped:
	case <-left:
		return closeReason{label: "client"}
	case <-shutdown:
		b.stop(closeShutdown)
	}
	select {
	case <-b.stopped:
	default:
		for _, f := range b.initial {
			if !write(f) {
				return closeReason{label: "client"}
			}
		}
	}
	for {
		select {
		case f := <-b.q:
			if !write(f) {
				select {
				case <-b.stopped:
					conn.CloseNow()
					return b.why
				default:
				}
				return closeReason{label: "client"}
			}
			r.m.written.Inc()
		case <-b.stopped:
			// The close frame, and the peer's answer, get 2 s at most.
			t := time.AfterFunc(2*time.Second, kill)
			conn.Close(b.why.code, b.why.reason)
			t.Stop()
			return b.why
		case <-left:
			return closeReason{label: "client"}
		case <-shutdown:
			b.stop(closeShutdown)
		}
	}
}
