// Package relay is the browser-facing edge of the live logs (flow D):
// browsers open /device-logs?deviceId=ID with their own credential, the
// relay checks the device is theirs, follows the device on serve with ONE
// upstream per device whatever the number of browsers, and fans each line
// out. When the upstream drops it resumes from the last seq, so browsers
// see neither a gap nor a duplicate, only a "reconnecting" notice. The
// frames are serve's (docs/live-logs.md) plus the relay's notices.
package relay

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
)

// Options tune a Relay; zero values take the defaults.
type Options struct {
	// Origins are the browser origins allowed (exact scheme://host[:port],
	// or "*"). Empty: only the relay's own origin.
	Origins      []string
	Queue        int           // frames queued per browser before it is closed as lagging (256)
	Window       int           // lines kept per device for late joiners and resumes (1000)
	PingInterval time.Duration // browser pings, also the pong deadline (30s)
	HelloWait    time.Duration // how long a browser waits for a device's first upstream hello (10s)
	AuthTimeout  time.Duration // bound on one Authorize call (5s)
	// Linger keeps a device's upstream and window open this long after its
	// last browser left (5s), so browsers that reconnect (a reload, a
	// network blip) resume from the window without reopening it. <0: none.
	Linger time.Duration
	// Gather is how long a new upstream waits for more browsers before it
	// dials, so it opens from the lowest position any of them needs (25ms).
	Gather time.Duration
}

// Relay serves /device-logs. Mount it with Handle and set ConnContext on
// the http.Server.
type Relay struct {
	up   Upstream
	auth Authorizer
	log  *slog.Logger
	opts Options
	m    *metrics

	base   context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // feeds' upstream goroutines and browser sessions

	mu    sync.Mutex
	feeds map[string]*feed
}

// New builds a relay. reg receives its metrics (nil: none).
func New(up Upstream, auth Authorizer, log *slog.Logger, reg prometheus.Registerer, opts Options) *Relay {
	if opts.Queue <= 0 {
		opts.Queue = 256
	}
	if opts.Window <= 0 {
		opts.Window = 1000
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 30 * time.Second
	}
	if opts.HelloWait <= 0 {
		opts.HelloWait = 10 * time.Second
	}
	if opts.AuthTimeout <= 0 {
		opts.AuthTimeout = 5 * time.Second
	}
	if opts.Linger == 0 {
		opts.Linger = 5 * time.Second
	}
	if opts.Gather <= 0 {
		opts.Gather = 25 * time.Millisecond
	}
	r := &Relay{up: up, auth: auth, log: log, opts: opts, m: newMetrics(reg), feeds: map[string]*feed{}}
	r.base, r.cancel = context.WithCancel(context.Background())
	return r
}

// Handle registers GET /device-logs on mux.
func (r *Relay) Handle(mux *http.ServeMux) { mux.Handle("GET /device-logs", r) }

type rawConnKey struct{}

// ConnContext is for http.Server.ConnContext: it lets the relay close a
// browser's TCP connection when a close handshake would hang.
func (r *Relay) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, rawConnKey{}, c)
}

// Devices is the number of devices with an open upstream.
func (r *Relay) Devices() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.feeds)
}

// Close closes every browser (1001) and upstream, and waits for both to
// end. Call it after the HTTP server stopped accepting.
func (r *Relay) Close() {
	r.mu.Lock()
	r.cancel() // under mu: no session is counted after this (enter)
	r.mu.Unlock()
	r.wg.Wait()
}

// enter counts a browser session, unless the relay is closing. A hijacked
// connection outlives http.Server's shutdown, so a session can start while
// Close waits, and a WaitGroup must not go up from zero during a Wait.
func (r *Relay) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.base.Err() != nil {
		return false
	}
	r.wg.Add(1)
	return true
}

// ServeHTTP checks the request in the order of docs/live-logs.md (query,
// origin, credential, device, upgrade), then streams.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	q, err := parseQuery(req.URL.Query())
	if err != nil {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	if !r.originAllowed(req) {
		refuse(w, http.StatusForbidden, "origin not allowed")
		return
	}
	cred, protos, err := credential(req)
	if errors.Is(err, errNoSubprotocol) {
		refuse(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", "Bearer")
		refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	actx, cancel := context.WithTimeout(req.Context(), r.opts.AuthTimeout)
	err = r.auth.Authorize(actx, cred, q.device)
	cancel()
	if err != nil {
		r.refuseAuth(w, err)
		return
	}
	if !isUpgrade(req) {
		refuse(w, http.StatusUpgradeRequired, "a WebSocket upgrade is required")
		return
	}
	var subprotocols []string
	if len(protos) > 0 {
		subprotocols = []string{Subprotocol}
	}
	// The origin was checked above against our own list.
	conn, err := websocket.Accept(w, req, &websocket.AcceptOptions{Subprotocols: subprotocols, InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the client
	}
	if !r.enter() {
		conn.Close(closeShutdown.code, closeShutdown.reason)
		return
	}
	defer r.wg.Done()
	raw, _ := req.Context().Value(rawConnKey{}).(net.Conn)
	b := newBrowser(q.start, r.opts.Queue)
	f := r.join(q.device, b)
	r.m.browsers.Inc()
	why := r.pump(r.base, conn, raw, b)
	r.leave(f, b)
	r.m.browsers.Dec()
	r.m.closed.WithLabelValues(why.label).Inc()
	conn.CloseNow()
}

func (r *Relay) refuseAuth(w http.ResponseWriter, err error) {
	switch domain.ErrorCode(err) {
	case domain.CodeUnauthenticated:
		w.Header().Set("WWW-Authenticate", "Bearer")
		refuse(w, http.StatusUnauthorized, "bad, revoked or expired credential")
	case domain.CodeNotFound:
		refuse(w, http.StatusNotFound, "unknown device")
	case domain.CodePermissionDenied:
		refuse(w, http.StatusForbidden, "the device belongs to another account")
	case domain.CodeInvalid:
		refuse(w, http.StatusBadRequest, domain.ErrorMessage(err))
	default:
		r.log.Warn("relay: cannot check a browser's device", "err", err)
		refuse(w, http.StatusServiceUnavailable, "cannot check the device now; retry with backoff")
	}
}

// join attaches b to its device's feed, opening the upstream for the first
// browser (with that browser's start, so serve does the history).
func (r *Relay) join(device string, b *browser) *feed {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.feeds[device]
	if f == nil {
		f = newFeed(device, r.opts.Window, r.m)
		var ctx context.Context
		ctx, f.cancel = context.WithCancel(r.base)
		r.feeds[device] = f
		r.m.upstreams.Inc()
		r.wg.Add(1)
		go r.follow(ctx, f)
	}
	f.idle = nil
	f.add(b)
	return f
}

// leave detaches b; once the last browser is out for Linger, the upstream
// closes and the registry entry goes.
func (r *Relay) leave(f *feed, b *browser) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !f.remove(b) {
		return
	}
	if r.opts.Linger < 0 {
		r.drop(f)
		return
	}
	var t *time.Timer
	t = time.AfterFunc(r.opts.Linger, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if f.idle == t { // nobody joined since
			r.drop(f)
		}
	})
	f.idle = t
}

// drop removes f from the registry and closes its upstream. r.mu is held.
func (r *Relay) drop(f *feed) {
	if r.feeds[f.id] == f {
		delete(r.feeds, f.id)
	}
	f.cancel()
}

func (r *Relay) follow(ctx context.Context, f *feed) {
	defer r.wg.Done()
	defer r.m.upstreams.Dec()
	select {
	case <-ctx.Done():
		return
	case <-time.After(r.opts.Gather):
	}
	err := r.up.Follow(ctx, f.id, f.upstreamStart(), f.on)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.log.Warn("relay: a device's upstream gave up", "device", f.id, "err", err)
	}
	r.mu.Lock()
	if r.feeds[f.id] == f {
		delete(r.feeds, f.id)
	}
	r.mu.Unlock()
	f.fail()
	f.cancel()
}

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

var errNoCredential = errors.New("no credential: send Authorization: Bearer KEY, or Sec-WebSocket-Protocol: liveplane.v1, bearer.KEY (or ticket.TICKET from the console)")
