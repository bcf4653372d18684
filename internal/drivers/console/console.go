// Package console is the embedded web console: static assets (plain HTML,
// CSS and ES modules, no build step) served at "/", a cookie session for the
// browser, and a bridge that turns a console request (session cookie + CSRF
// header) into a bearer-authenticated call to the Connect API or the live-log
// stream. It never imports another driver: the API and stream handlers come
// in as plain http.Handlers from the composition root.
package console

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain/account"
)

// Authenticator resolves a token (account API key or admin token) to a
// principal; account.Service implements it. Unknown, revoked and malformed
// tokens all return an error.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (account.Principal, error)
}

const (
	// CookieName is the session cookie (the relay uses the same name for
	// its own session hook).
	CookieName = "liveplane_session"
	// CSRFHeader carries the session's CSRF token on console requests.
	CSRFHeader = "X-CSRF-Token"
	// csrfProtocolPrefix carries it on the WebSocket, which cannot set headers.
	csrfProtocolPrefix = "csrf."
	streamSubprotocol  = "liveplane.v1"
	// DefaultTTL is how long a session lasts after sign-in.
	DefaultTTL = 12 * time.Hour
)

// Options configure the console.
type Options struct {
	Auth Authenticator
	// Secret keys the session cookies (>= 32 random bytes); processes that
	// share it share sessions.
	Secret []byte
	// API serves the Connect procedures ("/liveplane.v1.X/Method").
	API http.Handler
	// Stream serves the live-log WebSocket (serve's GET /ws).
	Stream http.Handler
	TTL    time.Duration
	Now    func() time.Time
	Logger *slog.Logger
	// RelayURL (http[s]://host[:port]) is the liveplane relay the Live Logs
	// tab follows devices through, with tickets from POST /console/tickets;
	// "" keeps it on /console/ws.
	RelayURL string
	// RelayTokens are the relays' service tokens: they may verify tickets
	// (POST /console/tickets/verify). Devices is needed with them.
	RelayTokens []string
	Devices     Devices
	// Shared spreads sign-outs and used tickets over the replicas
	// (shared.go); nil keeps them per process.
	Shared Shared
}

// Console is the http.Handler set of the web console.
type Console struct {
	opt    Options
	seal   *sealer
	assets *assets

	relayTokens [][sha256.Size]byte

	mu      sync.Mutex
	revoked map[[sidLen]byte]time.Time // signed-out sessions until they expire (here; Shared has all replicas')
	used    map[[16]byte]time.Time     // relay tickets verified, until they expire (here; Shared has all replicas')
}

// New builds the console.
func New(opt Options) (*Console, error) {
	if opt.Auth == nil || opt.API == nil || opt.Stream == nil {
		return nil, errors.New("console: Auth, API and Stream are required")
	}
	if len(opt.RelayTokens) > 0 && opt.Devices == nil {
		return nil, errors.New("console: Devices is required with RelayTokens")
	}
	relayOrigin := ""
	if opt.RelayURL != "" {
		u, err := url.Parse(opt.RelayURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("console: RelayURL: want http[s]://host[:port]")
		}
		opt.RelayURL = u.Scheme + "://" + u.Host
		relayOrigin = opt.RelayURL
	}
	s, err := newSealer(opt.Secret)
	if err != nil {
		return nil, err
	}
	if opt.TTL <= 0 {
		opt.TTL = DefaultTTL
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := loadAssets(relayOrigin)
	if err != nil {
		return nil, err
	}
	c := &Console{opt: opt, seal: s, assets: a, revoked: map[[sidLen]byte]time.Time{}, used: map[[16]byte]time.Time{}}
	for _, t := range opt.RelayTokens {
		c.relayTokens = append(c.relayTokens, sha256.Sum256([]byte(t)))
	}
	return c, nil
}

// Mount registers the console's routes on mux.
func (c *Console) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", c.assets.serveIndex)
	mux.HandleFunc("GET /console/assets/{name}", c.assets.serve)
	mux.HandleFunc("GET /console/session", c.getSession)
	mux.HandleFunc("POST /console/session", c.signIn)
	mux.HandleFunc("DELETE /console/session", c.signOut)
	mux.HandleFunc("POST /console/api/{service}/{method}", c.api)
	mux.HandleFunc("GET /console/ws", c.stream)
	if c.opt.RelayURL != "" {
		mux.HandleFunc("POST /console/tickets", c.mintTicket)
	}
	if len(c.relayTokens) > 0 {
		mux.HandleFunc("POST /console/tickets/verify", c.verifyTicket)
	}
}

type sessionInfo struct {
	CSRF      string    `json:"csrf"`
	Admin     bool      `json:"admin"`
	AccountID string    `json:"accountId,omitempty"`
	Expires   time.Time `json:"expires"`
	// RelayURL: the Live Logs tab goes through this relay (with tickets).
	RelayURL string `json:"relayUrl,omitempty"`
}

func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	// JSON only: a cross-site form cannot send it without a CORS preflight,
	// which we never answer, so no login CSRF.
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) != "application/json" {
		httpError(w, http.StatusUnsupportedMediaType, "send JSON: {\"token\":\"…\"}")
		return
	}
	if !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "cross-origin sign-in refused")
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&body); err != nil {
		httpError(w, http.StatusBadRequest, "body: want {\"token\":\"…\"}")
		return
	}
	token := strings.TrimSpace(body.Token)
	if token == "" || len(token) > MaxTokenLen {
		httpError(w, http.StatusBadRequest, "token: missing or too long")
		return
	}
	p, err := c.opt.Auth.Authenticate(r.Context(), token)
	if err != nil {
		c.opt.Logger.Info("console sign-in refused", "remote", r.RemoteAddr)
		httpError(w, http.StatusUnauthorized, "unknown, revoked or malformed token")
		return
	}
	now := c.opt.Now()
	s := session{issued: now, expires: now.Add(c.opt.TTL), sid: newSID(), token: token}
	http.SetCookie(w, c.cookie(r, c.seal.seal(s), int(c.opt.TTL/time.Second)))
	writeJSON(w, sessionInfo{CSRF: c.seal.csrf(s.sid), Admin: p.Admin, AccountID: p.AccountID, Expires: s.expires.UTC(), RelayURL: c.opt.RelayURL})
}

func (c *Console) getSession(w http.ResponseWriter, r *http.Request) {
	s, ok := c.session(w, r)
	if !ok {
		return
	}
	p, err := c.opt.Auth.Authenticate(r.Context(), s.token)
	if err != nil {
		http.SetCookie(w, c.cookie(r, "", -1))
		httpError(w, http.StatusUnauthorized, "the session's token is no longer valid: sign in again")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, sessionInfo{CSRF: c.seal.csrf(s.sid), Admin: p.Admin, AccountID: p.AccountID, Expires: s.expires.UTC(), RelayURL: c.opt.RelayURL})
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	s, ok := c.sessionCSRF(w, r)
	if !ok {
		return
	}
	c.revoke(s)
	c.signOutShared(r.Context(), s)
	http.SetCookie(w, c.cookie(r, "", -1))
	w.WriteHeader(http.StatusNoContent)
}

// api forwards a Connect call of the session to the API as a bearer call.
// Every API call through here needs the CSRF header, reads included: it costs
// the page nothing and leaves no method to classify.
func (c *Console) api(w http.ResponseWriter, r *http.Request) {
	svc, method := r.PathValue("service"), r.PathValue("method")
	if !strings.HasPrefix(svc, "liveplane.v1.") || strings.ContainsAny(svc+method, "/?#%") {
		httpError(w, http.StatusNotFound, "no such procedure")
		return
	}
	s, ok := c.sessionCSRF(w, r)
	if !ok {
		return
	}
	out := r.Clone(r.Context())
	out.URL = &url.URL{Path: "/" + svc + "/" + method}
	out.RequestURI = ""
	out.Header.Del("Cookie")
	out.Header.Del(CSRFHeader)
	out.Header.Set("Authorization", "Bearer "+s.token)
	c.opt.API.ServeHTTP(w, out)
}

// stream forwards the page's WebSocket to the live-log stream as a bearer
// request. Browsers cannot set headers on a WebSocket, so the CSRF token
// comes as the "csrf.TOKEN" subprotocol, next to "liveplane.v1"; the Origin
// must be this server's (checked here: the stream's --ws-origins list is for
// third-party pages holding their own tokens).
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Origin") == "" || !sameOrigin(r) {
		httpError(w, http.StatusForbidden, "the console stream is for the console's own pages")
		return
	}
	s, ok := c.session(w, r)
	if !ok {
		return
	}
	var csrf string
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), csrfProtocolPrefix); ok {
				csrf = v
			}
		}
	}
	if !c.seal.checkCSRF(s.sid, csrf) {
		httpError(w, http.StatusForbidden, "missing or wrong csrf.TOKEN subprotocol")
		return
	}
	out := r.Clone(r.Context())
	out.URL = &url.URL{Path: "/ws", RawQuery: r.URL.RawQuery}
	out.RequestURI = ""
	out.Header.Del("Cookie")
	out.Header.Del("Origin")
	out.Header.Set("Sec-WebSocket-Protocol", streamSubprotocol)
	out.Header.Set("Authorization", "Bearer "+s.token)
	c.opt.Stream.ServeHTTP(w, out)
}

// session returns the request's valid session or answers 401 itself.
func (c *Console) session(w http.ResponseWriter, r *http.Request) (session, bool) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		httpError(w, http.StatusUnauthorized, "not signed in")
		return session{}, false
	}
	s, err := c.seal.open(ck.Value, c.opt.Now())
	if err == nil && c.isRevoked(s) {
		err = errors.New("signed out")
	}
	if err != nil {
		http.SetCookie(w, c.cookie(r, "", -1))
		httpError(w, http.StatusUnauthorized, "session invalid or expired: sign in again")
		return session{}, false
	}
	return s, true
}

// sessionCSRF is session for state-changing and API requests: the session
// must also come with its CSRF header. On failure the answer is written.
func (c *Console) sessionCSRF(w http.ResponseWriter, r *http.Request) (session, bool) {
	s, ok := c.session(w, r)
	if !ok {
		return session{}, false
	}
	if !c.seal.checkCSRF(s.sid, r.Header.Get(CSRFHeader)) {
		httpError(w, http.StatusForbidden, "missing or wrong "+CSRFHeader)
		return session{}, false
	}
	return s, true
}

func (c *Console) revoke(s session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opt.Now()
	for sid, exp := range c.revoked {
		if !now.Before(exp) {
			delete(c.revoked, sid)
		}
	}
	c.revoked[s.sid] = s.expires
}

func (c *Console) isRevoked(s session) bool {
	c.mu.Lock()
	_, ok := c.revoked[s.sid]
	c.mu.Unlock()
	return ok || c.signedOutShared(s.sid)
}

func (c *Console) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: CookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	}
}

// sameOrigin: a request without Origin (not a browser's cross-site fetch)
// passes; one with Origin must name this host.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
