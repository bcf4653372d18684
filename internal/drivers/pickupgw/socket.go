package pickupgw

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// socket is one mediator connection. One goroutine reads frames and starts
// a handler per frame (at most MaxInFlight at a time: a client that sends
// faster than it is answered stops being read, which TCP turns into back
// pressure); one goroutine writes everything the socket sends, in order.
type socket struct {
	srv    *Server
	ws     *websocket.Conn
	cork   *corkConn
	client pickup.Client
	ctx    context.Context
	cancel context.CancelFunc

	out      chan []byte
	done     chan struct{} // closed when the socket is finished
	flush    chan struct{} // closed to write what is queued, then close
	once     sync.Once
	sem      chan struct{}
	handlers sync.WaitGroup
	limiter  *rate.Limiter

	drainMu  sync.Mutex
	draining bool // shutting down: no new calls; Add on handlers only while false
	flushed  sync.Once

	unsubscribed atomic.Bool // rpc.off messagesReceived
	heldSessions atomic.Bool // it called addLiveSession at least once

	rbuf []byte // readFrame's scratch, used by the read loop only

	mu      sync.Mutex
	revoked map[string]int64     // connection -> newest epoch it lost
	holds   map[string]*liveHold // connection -> live deliveries kept back while its backlog drains
}

func (s *socket) run() {
	s.srv.hub.add(s)
	defer s.srv.hub.remove(s)
	go s.write()
	go s.keepalive()
	for {
		frame, err := s.readFrame()
		if err != nil {
			s.abort(websocket.StatusNormalClosure, "")
			break
		}
		if s.limiter != nil && s.limiter.Wait(s.ctx) != nil {
			break
		}
		select {
		case s.sem <- struct{}{}:
		case <-s.done:
		}
		if s.isDone() {
			break
		}
		s.drainMu.Lock()
		if s.draining {
			s.drainMu.Unlock()
			<-s.sem
			s.refuse(frame)
			continue
		}
		s.handlers.Add(1)
		s.drainMu.Unlock()
		go func() {
			defer func() { <-s.sem; s.handlers.Done() }()
			s.handle(frame)
		}()
	}
	s.handlers.Wait()
	if s.heldSessions.Load() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		if err := s.srv.svc.SocketClosed(ctx, s.client.Holder); err != nil {
			s.srv.log.Warn("pickup: releasing a closed socket's sessions", "err", err)
		}
		cancel()
	}
}

// readFrame reads the next message into the socket's scratch buffer and
// returns a copy of exactly its length. Conn.Read (io.ReadAll) grew a new
// buffer in steps for every frame: a fifth of the bytes serve allocated at
// 10,000 adds/s. The read limit still applies (the reader enforces it).
func (s *socket) readFrame() ([]byte, error) {
	_, r, err := s.ws.Reader(s.ctx)
	if err != nil {
		return nil, err
	}
	buf := s.rbuf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if cap(buf) <= maxScratch {
		s.rbuf = buf // a rare large frame is not kept for the socket's life
	}
	return bytes.Clone(buf), nil
}

const maxScratch = 64 << 10

// drain is the socket's part of a graceful shutdown: no new calls, the
// calls in progress finish, their answers and every queued notification are
// written, then the socket closes with 1001.
func (s *socket) drain() {
	s.drainMu.Lock()
	s.draining = true
	s.drainMu.Unlock()
	s.handlers.Wait()
	s.flushed.Do(func() { close(s.flush) })
}

// refuse answers a frame that arrived during shutdown.
func (s *socket) refuse(frame []byte) {
	reqs, batch, ferr := decodeFrame(frame)
	if ferr != nil || batch {
		return
	}
	if req, rerr := decodeRequest(reqs[0]); rerr == nil && req.ID != nil {
		s.send(appendResponse(nil, req.ID, nil, &rpcError{Code: codeUnavailable, Message: "server shutting down: reconnect"}))
	}
}

func (s *socket) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// abort finishes the socket: the writer stops, pending frames are dropped.
func (s *socket) abort(code websocket.StatusCode, reason string) {
	s.once.Do(func() {
		close(s.done)
		go func() {
			_ = s.ws.Close(code, reason)
			s.cancel()
		}()
	})
}

// send queues a frame. A socket whose queue is full is closed: a mediator
// that does not read its notifications must not hold the server's memory.
func (s *socket) send(frame []byte) {
	if s.isDone() {
		return
	}
	select {
	case s.out <- frame:
	default:
		s.tooSlow()
	}
}

func (s *socket) tooSlow() {
	s.srv.log.Warn("pickup: closing a socket that reads too slowly", "socket", s.client.Holder.Socket)
	s.abort(websocket.StatusPolicyViolation, "outbound queue full: read faster")
}

func (s *socket) write() {
	for {
		select {
		case f := <-s.out:
			if err := s.writeQueued(f); err != nil {
				s.abort(websocket.StatusInternalError, "")
				return
			}
		case <-s.flush:
			for {
				select {
				case f := <-s.out:
					if s.ws.Write(s.ctx, websocket.MessageText, f) != nil {
						s.abort(websocket.StatusGoingAway, "server shutting down")
						return
					}
				default:
					s.abort(websocket.StatusGoingAway, "server shutting down")
					return
				}
			}
		case <-s.done:
			return
		}
	}
}

// writeQueued writes f and whatever else is queued (up to 256 frames) with
// one write(2).
func (s *socket) writeQueued(f []byte) error {
	// Let the handlers that are runnable (the answers of one group
	// commit) queue theirs first; on one core the writer otherwise wakes
	// for every single frame.
	runtime.Gosched()
	s.cork.cork()
	err := s.ws.Write(s.ctx, websocket.MessageText, f)
	for n := min(len(s.out), 256); err == nil && n > 0; n-- {
		err = s.ws.Write(s.ctx, websocket.MessageText, <-s.out)
	}
	if uerr := s.cork.uncork(); err == nil {
		err = uerr
	}
	return err
}

// keepalive pings; a peer that does not answer is gone, and so are its
// sessions.
func (s *socket) keepalive() {
	t := time.NewTicker(s.srv.opt.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.ctx, s.srv.opt.PingTimeout)
			err := s.ws.Ping(ctx)
			cancel()
			if err != nil {
				s.abort(websocket.StatusPolicyViolation, "ping timeout")
				return
			}
		}
	}
}
