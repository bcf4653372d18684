// Package pickupgw is the message pickup repository gateway: a WebSocket
// speaking JSON-RPC 2.0 in the rpc-websockets dialect, wire-compatible with
// the MPR server its mediator client (@2060.io/message-pickup-repository-client)
// was written for. See README.md in this folder for the protocol, auth and
// limits.
package pickupgw

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// Options configure the gateway; zero fields take the defaults noted.
type Options struct {
	Auth Authenticator
	// Open accepts sockets without a token (their queues belong to no
	// account). Only for a gateway nobody else can reach.
	Open bool
	// MaxMessageBytes is the payload limit; frames up to twice that (plus
	// 64 KiB of envelope) are read, so an oversize payload gets a JSON-RPC
	// error instead of a dropped socket. Default 1 MiB.
	MaxMessageBytes int
	MaxInFlight     int           // calls per socket in progress at once; default 256
	QueueFrames     int           // frames queued for a socket before it counts as too slow; default 8192
	RateLimit       float64       // calls per second per socket, 0 = unlimited (back pressure only)
	CallTimeout     time.Duration // default 30s
	PingEvery       time.Duration // default 20s
	PingTimeout     time.Duration // default 10s
	Logger          *slog.Logger
}

// Server serves the gateway on "/".
type Server struct {
	svc     *pickup.Service
	hub     *Hub
	opt     Options
	log     *slog.Logger
	methods map[string]method
	ctx     context.Context // the server's life: drains run under it
	stop    context.CancelFunc
	nextID  atomic.Uint64

	mu      sync.Mutex
	closing bool
	sockets map[*socket]struct{}
	running sync.WaitGroup
}

// New returns a gateway on svc; hub must be the one svc's Notifier hands
// this instance's deliveries to.
func New(svc *pickup.Service, hub *Hub, opt Options) *Server {
	if opt.MaxMessageBytes <= 0 {
		opt.MaxMessageBytes = 1 << 20
	}
	if opt.MaxInFlight <= 0 {
		opt.MaxInFlight = 256
	}
	if opt.QueueFrames <= 0 {
		opt.QueueFrames = 8192
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = 30 * time.Second
	}
	if opt.PingEvery <= 0 {
		opt.PingEvery = 20 * time.Second
	}
	if opt.PingTimeout <= 0 {
		opt.PingTimeout = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Server{svc: svc, hub: hub, opt: opt, log: opt.Logger, methods: methods(), ctx: ctx, stop: stop,
		sockets: map[*socket]struct{}{}}
}

// ServeHTTP authenticates and upgrades a request on "/" and serves the
// socket until it closes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	client, status, msg := s.authenticate(r)
	if status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="liveplane pickup", Basic realm="liveplane pickup"`)
		}
		http.Error(w, msg, status)
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
	defer s.running.Done()

	cw := &corkWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		s.log.Debug("pickup: upgrade failed", "err", err)
		return
	}
	if cw.conn == nil {
		ws.CloseNow()
		return
	}
	ws.SetReadLimit(int64(2*s.opt.MaxMessageBytes + 64<<10))
	client.Holder = pickup.Holder{Instance: s.svc.Instance(), Socket: s.svc.Instance() + "/" + strconv.FormatUint(s.nextID.Add(1), 10)}
	ctx, cancel := context.WithCancel(s.ctx)
	sock := &socket{
		srv: s, ws: ws, cork: cw.conn, client: client, ctx: ctx, cancel: cancel,
		out: make(chan []byte, s.opt.QueueFrames), done: make(chan struct{}), flush: make(chan struct{}),
		sem: make(chan struct{}, s.opt.MaxInFlight),
	}
	if s.opt.RateLimit > 0 {
		sock.limiter = rate.NewLimiter(rate.Limit(s.opt.RateLimit), max(1, int(s.opt.RateLimit/10)))
	}
	s.mu.Lock()
	s.sockets[sock] = struct{}{}
	s.mu.Unlock()
	s.log.Debug("pickup: socket open", "socket", client.Holder.Socket, "account", client.Account)
	sock.run()
	s.mu.Lock()
	delete(s.sockets, sock)
	s.mu.Unlock()
	cancel()
	s.log.Debug("pickup: socket closed", "socket", client.Holder.Socket)
}

// Shutdown stops taking sockets, lets each socket's calls in progress
// finish and their answers go out, then closes the sockets (1001 going
// away). Sockets still busy when ctx ends are closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	socks := make([]*socket, 0, len(s.sockets))
	for so := range s.sockets {
		socks = append(socks, so)
	}
	s.mu.Unlock()
	for _, so := range socks {
		go so.drain()
	}
	done := make(chan struct{})
	go func() { s.running.Wait(); close(done) }()
	select {
	case <-done:
		s.stop()
		return nil
	case <-ctx.Done():
		s.stop() // cancels every socket's context: reads and writes end now
		<-done
		return ctx.Err()
	}
}
