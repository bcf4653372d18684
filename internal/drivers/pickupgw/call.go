package pickupgw

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
)

func (s *socket) handle(frame []byte) {
	reqs, batch, ferr := decodeFrame(frame)
	if ferr != nil {
		s.send(appendResponse(nil, nil, nil, ferr))
		return
	}
	if !batch {
		resp, after := s.call(reqs[0])
		if resp != nil {
			s.send(resp)
		}
		if after != nil {
			after()
		}
		return
	}
	out := []byte{'['}
	var afters []func()
	for _, raw := range reqs {
		resp, after := s.call(raw)
		if resp != nil {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, resp...)
		}
		if after != nil {
			afters = append(afters, after)
		}
	}
	if len(out) > 1 { // a batch of notifications gets no answer at all
		s.send(append(out, ']'))
	}
	for _, f := range afters {
		f()
	}
}

// call runs one request and returns its response (nil for a notification).
func (s *socket) call(raw json.RawMessage) ([]byte, func()) {
	if id, in, ok := decodeFastAdd(raw); ok {
		ctx, cancel := context.WithTimeout(s.ctx, s.srv.opt.CallTimeout)
		result, err := s.add(ctx, in)
		cancel()
		if err != nil {
			return appendResponse(nil, id, nil, s.rpcError("addMessage", err)), nil
		}
		return appendResponse(nil, id, result, nil), nil
	}
	req, rerr := decodeRequest(raw)
	if rerr != nil {
		return appendResponse(nil, req.ID, nil, rerr), nil
	}
	m := s.srv.methods[req.Method]
	if m == nil {
		if req.ID == nil {
			return nil, nil
		}
		return appendResponse(nil, req.ID, nil, &rpcError{Code: codeMethodNotFound,
			Message: "Method not found: " + req.Method}), nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.opt.CallTimeout)
	result, after, err := m(ctx, s, req.Params)
	cancel()
	if req.ID == nil {
		return nil, after
	}
	if err != nil {
		return appendResponse(nil, req.ID, nil, s.rpcError(req.Method, err)), nil
	}
	return appendResponse(nil, req.ID, result, nil), after
}

func (s *socket) rpcError(method string, err error) *rpcError {
	var re *rpcError
	if errors.As(err, &re) {
		return re
	}
	if domain.ErrorCode(err) == domain.CodeInternal {
		s.srv.log.Error("pickup: call failed", "method", method, "err", err)
	}
	return toRPC(err)
}

// deliver queues a notification; it returns why it did not, or "".
func (s *socket) deliver(d pickup.Delivery) string {
	if s.unsubscribed.Load() {
		return "unsubscribed"
	}
	conn := connID(d.Lease.Account, d.Lease.ConnectionID)
	frame := appendNotification(make([]byte, 0, 128+len(d.Messages)*256), d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Lease.Epoch <= s.revoked[conn] {
		return "superseded"
	}
	if h := s.holds[conn]; h != nil && !d.Backlog {
		if len(h.held) >= cap(s.out) {
			s.tooSlow()
			return "held_full"
		}
		h.held = append(h.held, heldFrame{epoch: d.Lease.Epoch, frame: frame})
		return ""
	}
	s.send(frame)
	return ""
}

func (s *socket) revoke(conn string, epoch int64) {
	s.mu.Lock()
	if s.revoked == nil {
		s.revoked = map[string]int64{}
	}
	if epoch > s.revoked[conn] {
		s.revoked[conn] = epoch
	}
	s.mu.Unlock()
}

// liveHold keeps a connection's live deliveries back while a session this
// socket started on it drains what was queued before: a message added just
// after addLiveSession must not reach the holder ahead of older ones.
type liveHold struct {
	n    int // addLiveSession calls of this socket on the connection still draining
	held []heldFrame
}

type heldFrame struct {
	epoch int64
	frame []byte
}

// holdLive starts holding conn's live deliveries; every call is paired with
// one releaseLive.
func (s *socket) holdLive(conn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds == nil {
		s.holds = map[string]*liveHold{}
	}
	h := s.holds[conn]
	if h == nil {
		h = &liveHold{}
		s.holds[conn] = h
	}
	h.n++
}

// releaseLive ends one hold; the last one sends what was held, in order,
// except deliveries whose session was taken over meanwhile (those stay in
// flight and move to the new holder after the takeover grace).
func (s *socket) releaseLive(conn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holds[conn]
	if h.n--; h.n > 0 {
		return
	}
	delete(s.holds, conn)
	lost := s.revoked[conn]
	for _, f := range h.held {
		if f.epoch <= lost {
			s.srv.hub.dropped("superseded")
			continue
		}
		s.send(f.frame)
	}
}
