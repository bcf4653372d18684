// Package livews is the live-log stream endpoint of serve: GET /ws upgraded
// to a WebSocket that sends a device's history and live lines, with resume
// and explicit gaps (docs/live-logs.md is the protocol), and the per-replica
// hub that fans the bus's feed out to the subscribers.
package livews

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// Authenticator resolves an account API key or the admin token
// (account.Service does).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (account.Principal, error)
}

// Devices tells which account owns a device (device.Service.Owner):
// CodeNotFound for an unknown device.
type Devices interface {
	Owner(ctx context.Context, deviceID string) (string, error)
}

// Options configure the endpoint; zero fields take the defaults noted.
type Options struct {
	Auth    Authenticator
	Devices Devices
	Window  livelog.Window
	// ServiceTokens are relay tokens: each may open any device's stream.
	ServiceTokens []string
	// Origins a browser's Origin must be in ("*" = any). Requests without
	// Origin pass.
	Origins      []string
	PingInterval time.Duration // default 30s
	QueueFrames  int           // lines queued per subscriber before it counts as lagging; default 256
	LagTimeout   time.Duration // a write blocked this long drops the subscriber; default 750ms
	// HistoryTimeout bounds reading and sending the hello and history.
	HistoryTimeout time.Duration // default 10s
	// MaxFlushDelay bounds the pause between two flush rounds when the hub
	// coalesces writes (flush.go): the latency a line may gain under load.
	MaxFlushDelay time.Duration // default 20ms
	Registerer    prometheus.Registerer
	Logger        *slog.Logger
}

// Server is the /ws endpoint and its hub.
type Server struct {
	opt     Options
	log     *slog.Logger
	hub     *hub
	metrics *metrics
	tokens  [][sha256.Size]byte

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
	running sync.WaitGroup
}

func New(opt Options) (*Server, error) {
	if opt.PingInterval <= 0 {
		opt.PingInterval = 30 * time.Second
	}
	if opt.QueueFrames <= 0 {
		opt.QueueFrames = 256
	}
	if opt.LagTimeout <= 0 {
		opt.LagTimeout = 750 * time.Millisecond
	}
	if opt.HistoryTimeout <= 0 {
		opt.HistoryTimeout = 10 * time.Second
	}
	if opt.MaxFlushDelay <= 0 {
		opt.MaxFlushDelay = DefaultMaxFlushDelay
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(opt.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{opt: opt, log: opt.Logger, hub: newHub(opt.MaxFlushDelay), metrics: m, conns: map[*conn]struct{}{}}
	if err := s.hub.register(opt.Registerer); err != nil {
		return nil, err
	}
	for _, t := range opt.ServiceTokens {
		s.tokens = append(s.tokens, sha256.Sum256([]byte(t)))
	}
	return s, nil
}

// Run feeds the hub from feed and pings subscribers until ctx ends.
func (s *Server) Run(ctx context.Context, feed livelog.Feed) error {
	done := make(chan struct{})
	go func() { defer close(done); s.pinger(ctx) }()
	defer func() { <-done }()
	return feed.Follow(ctx, s.hub.dispatch)
}

// pinger pings every subscriber once per PingInterval.
func (s *Server) pinger(ctx context.Context) {
	t := time.NewTicker(s.opt.PingInterval)
	defer t.Stop()
	var conns []*conn
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		conns = conns[:0]
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.ping()
		}
		clear(conns)
	}
}

// Deliver hands one line to this replica's subscribers of its device; Run
// calls it for each line of the feed. Lines of one device must come in seq
// order, from one goroutine.
func (s *Server) Deliver(e livelog.Entry) { s.hub.dispatch(e) }

// Subscribers is the number of open stream connections.
func (s *Server) Subscribers() int { return s.hub.count() }

// ServeHTTP refuses (400, 403, 401, 404, 403 in that order; see
// docs/live-logs.md) or upgrades and streams until the connection ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, rf := s.admit(r)
	if rf == nil {
		req.key, req.proto, rf = handshake(r)
	}
	if rf != nil {
		switch rf.status {
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="liveplane"`)
		case http.StatusUpgradeRequired:
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, rf.msg, rf.status)
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.running.Add(1)
	s.mu.Unlock()
	c, ok := s.upgrade(w, r, req)
	if !ok {
		s.running.Done()
		return
	}
	// The HTTP handler returns now: net/http's per-connection state (its
	// 4 KiB buffers, the request, this goroutine's grown stack) goes, and a
	// fresh goroutine with a small stack waits for the client's frames.
	go func() {
		defer s.running.Done()
		defer s.finish(c)
		c.read()
	}()
}

// upgrade accepts the WebSocket, registers the subscriber (live first, then
// history: a line stored meanwhile is in one or both, and goLive drops what
// the history already sent) and sends the hello and history.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, req request) (*conn, bool) {
	nc, err := upgradeConn(w, req.key, req.proto)
	if err != nil {
		s.log.Debug("live-log stream: upgrade failed", "err", err)
		return nil, false
	}
	c := &conn{srv: s, deviceID: req.deviceID, nc: nc}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.subscribers.Inc()
	s.hub.add(c)
	if !s.sendHistory(c, req) {
		s.finish(c)
		return nil, false
	}
	return c, true
}

// finish releases everything a subscriber holds.
func (s *Server) finish(c *conn) {
	s.hub.remove(c)
	c.fail(0, reasonClient, "")
	c.nc.Conn.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.metrics.subscribers.Dec()
	c.mu.Lock()
	reason := c.reason
	c.mu.Unlock()
	s.metrics.closed.WithLabelValues(reason).Inc()
}

// sendHistory writes the hello and the history, then lets the live tail
// flow. False when the connection is already finished.
func (s *Server) sendHistory(c *conn, req request) bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.opt.HistoryTimeout)
	defer cancel()
	hello, lines, err := livelog.Open(ctx, s.opt.Window, req.deviceID, req.open)
	if err != nil {
		s.log.Warn("live-log history unavailable", "device", req.deviceID, "err", err)
		c.mu.Lock()
		c.state, c.reason = closing, reasonError
		c.mu.Unlock()
		_ = c.nc.writeWithin([][]byte{closeFrame(websocket.StatusInternalError, "live-log window unavailable, retry")},
			time.Now().Add(closeWait))
		c.linger()
		return false
	}
	frames := make([][]byte, 0, 1+len(lines))
	frames = append(frames, encodeHello(req.deviceID, hello))
	last := hello.LastSeq
	for _, e := range lines {
		if f := lineFrame(e); f != nil {
			frames = append(frames, f)
			last = e.Seq
		}
	}
	deadline, _ := ctx.Deadline()
	if err := c.nc.writeWithin(frames, deadline); err != nil {
		return false
	}
	s.metrics.delivered.Add(float64(len(lines)))
	c.goLive(hello.Epoch, last)
	return true
}

// admit checks the request before the upgrade.
func (s *Server) admit(r *http.Request) (request, *refusal) {
	req, rf := parseRequest(r)
	if rf != nil {
		return request{}, rf
	}
	if !originAllowed(r, s.opt.Origins) {
		return request{}, &refusal{http.StatusForbidden, "origin not allowed"}
	}
	deny := &refusal{http.StatusUnauthorized, "missing or invalid token"}
	if req.token == "" {
		return request{}, deny
	}
	ctx := r.Context()
	all := s.serviceToken(req.token)
	var p account.Principal
	if !all {
		var err error
		if p, err = s.opt.Auth.Authenticate(ctx, req.token); err != nil {
			if domain.Is(err, domain.CodeUnauthenticated) {
				return request{}, deny
			}
			s.log.Warn("live-log stream: authentication failed", "err", err)
			return request{}, &refusal{http.StatusServiceUnavailable, "authentication unavailable, retry"}
		}
	}
	owner, err := s.opt.Devices.Owner(ctx, req.deviceID)
	switch {
	case domain.Is(err, domain.CodeNotFound), domain.Is(err, domain.CodeInvalid):
		return request{}, &refusal{http.StatusNotFound, "device not found"}
	case err != nil:
		s.log.Warn("live-log stream: device lookup failed", "err", err)
		return request{}, &refusal{http.StatusServiceUnavailable, "device lookup unavailable, retry"}
	case !all && !p.CanSee(owner):
		return request{}, &refusal{http.StatusForbidden, "the device belongs to another account"}
	}
	return req, nil
}

func (s *Server) serviceToken(token string) bool {
	h := sha256.Sum256([]byte(token))
	ok := 0
	for _, t := range s.tokens {
		ok |= subtle.ConstantTimeCompare(h[:], t[:])
	}
	return ok == 1
}

// Shutdown refuses new connections and closes every open one with 1001
// (going away: resume on another replica), waiting until they are gone or
// ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.fail(websocket.StatusGoingAway, reasonShutdown, "server shutting down, resume elsewhere")
	}
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.nc.Conn.Close()
		}
		<-done
		return ctx.Err()
	}
}
