package console_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/console"
	"github.com/liveplane/liveplane/internal/drivers/rpc"
)

// env is the console on a real account service (SQLite) and the real
// Connect account API; the stream is a recorder of what the bridge forwards.
type env struct {
	mux      *http.ServeMux
	accounts *account.Service
	admin    string // admin token
	key      string // API key of account "alpha"
	keyID    string
	now      time.Time
	mu       sync.Mutex
	streamed *http.Request
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{mux: http.NewServeMux(), now: time.Now()}
	e.accounts = account.NewService(st.Accounts(), domain.SystemClock{})
	if e.admin, err = e.accounts.EnsureAdminToken(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := e.accounts.Create(account.WithPrincipal(ctx, account.Principal{Admin: true}), account.CreateInput{Name: "alpha", WithAPIKey: true})
	if err != nil {
		t.Fatal(err)
	}
	e.key, e.keyID = c.Secret, c.Key.ID
	rpc.Mount(e.mux, e.accounts, slog.New(slog.DiscardHandler))
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.streamed = r
		e.mu.Unlock()
		w.WriteHeader(http.StatusSwitchingProtocols)
	})
	con, err := console.New(console.Options{
		Auth: e.accounts, Secret: bytes.Repeat([]byte{1}, 32), API: e.mux, Stream: stream,
		TTL: time.Hour, Now: func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	con.Mount(e.mux)
	return e
}

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

type req struct {
	method, path, body string
	hdr                map[string]string
	cookie             *http.Cookie
	tls                bool
}

func (e *env) do(r req) *http.Response {
	hr := httptest.NewRequest(r.method, "http://console.test"+r.path, strings.NewReader(r.body))
	for k, v := range r.hdr {
		hr.Header.Set(k, v)
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	if r.tls {
		hr.TLS = &tls.ConnectionState{}
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, hr)
	return w.Result()
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

// signIn returns the session cookie and CSRF token for token.
func (e *env) signIn(t *testing.T, token string) (*http.Cookie, string) {
	t.Helper()
	res := e.do(req{method: "POST", path: "/console/session", body: `{"token":"` + token + `"}`, hdr: jsonCT})
	if res.StatusCode != 200 {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	var info struct{ CSRF string }
	json.NewDecoder(res.Body).Decode(&info)
	for _, c := range res.Cookies() {
		if c.Name == console.CookieName {
			return c, info.CSRF
		}
	}
	t.Fatal("no session cookie")
	return nil, ""
}

func (e *env) listAccounts(c *http.Cookie, csrf string) (int, string) {
	h := map[string]string{"Content-Type": "application/json"}
	if csrf != "" {
		h[console.CSRFHeader] = csrf
	}
	res := e.do(req{method: "POST", path: "/console/api/liveplane.v1.AccountService/ListAccounts", body: "{}", hdr: h, cookie: c})
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestSignInCookieAttributes(t *testing.T) {
	e := newEnv(t)
	for _, tlsOn := range []bool{false, true} {
		res := e.do(req{method: "POST", path: "/console/session", body: `{"token":"` + e.admin + `"}`, hdr: jsonCT, tls: tlsOn})
		if res.StatusCode != 200 {
			t.Fatalf("sign-in: %d", res.StatusCode)
		}
		c := res.Cookies()[0]
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != tlsOn || c.Path != "/" || c.MaxAge != 3600 {
			t.Errorf("tls=%v: cookie %+v", tlsOn, c)
		}
		if strings.Contains(c.Value, e.admin) {
			t.Error("cookie holds the token in clear")
		}
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		r      req
		status int
	}{
		{"unknown token", req{body: `{"token":"lpk_nope"}`, hdr: jsonCT}, 401},
		{"empty token", req{body: `{"token":""}`, hdr: jsonCT}, 400},
		{"not JSON", req{body: `{"token":"` + e.admin + `"}`, hdr: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415},
		{"cross-origin", req{body: `{"token":"` + e.admin + `"}`, hdr: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}}, 403},
		{"bad body", req{body: `{"token":`, hdr: jsonCT}, 400},
	}
	for _, c := range cases {
		c.r.method, c.r.path = "POST", "/console/session"
		res := e.do(c.r)
		if res.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.status)
		}
		if len(res.Cookies()) != 0 && res.Cookies()[0].MaxAge >= 0 {
			t.Errorf("%s: set a session cookie", c.name)
		}
	}
	// Same-origin Origin is fine.
	res := e.do(req{method: "POST", path: "/console/session", body: `{"token":"` + e.admin + `"}`,
		hdr: map[string]string{"Content-Type": "application/json", "Origin": "http://console.test"}})
	if res.StatusCode != 200 {
		t.Errorf("same-origin sign-in: %d", res.StatusCode)
	}
}

func TestAPIBridgeNeedsSessionAndCSRF(t *testing.T) {
	e := newEnv(t)
	c, csrf := e.signIn(t, e.admin)
	if st, body := e.listAccounts(c, csrf); st != 200 || !strings.Contains(body, `"alpha"`) {
		t.Fatalf("with session+CSRF: %d %s", st, body)
	}
	if st, _ := e.listAccounts(c, ""); st != 403 {
		t.Errorf("without CSRF: %d, want 403", st)
	}
	_, otherCSRF := e.signIn(t, e.admin)
	if st, _ := e.listAccounts(c, otherCSRF); st != 403 {
		t.Errorf("another session's CSRF: %d, want 403", st)
	}
	if st, _ := e.listAccounts(nil, csrf); st != 401 {
		t.Errorf("no cookie: %d, want 401", st)
	}
	forged := *c
	forged.Value = c.Value[:len(c.Value)-2] + "AA"
	if st, _ := e.listAccounts(&forged, csrf); st != 401 {
		t.Errorf("tampered cookie: %d, want 401", st)
	}
	// Only liveplane.v1 procedures are reachable through the bridge.
	res := e.do(req{method: "POST", path: "/console/api/console/session", body: "{}", hdr: map[string]string{console.CSRFHeader: csrf}, cookie: c})
	if res.StatusCode != 404 {
		t.Errorf("non-procedure path: %d, want 404", res.StatusCode)
	}
	// Account key sessions act as that account: the API's own rules apply.
	kc, kcsrf := e.signIn(t, e.key)
	if st, body := e.listAccounts(kc, kcsrf); st != 403 && st != 200 {
		t.Errorf("account-key ListAccounts: %d %s", st, body)
	}
}

func TestSessionEnds(t *testing.T) {
	e := newEnv(t)
	// Sign-out needs CSRF, then the cookie is dead on this process.
	c, csrf := e.signIn(t, e.admin)
	if res := e.do(req{method: "DELETE", path: "/console/session", cookie: c}); res.StatusCode != 403 {
		t.Errorf("sign-out without CSRF: %d, want 403", res.StatusCode)
	}
	res := e.do(req{method: "DELETE", path: "/console/session", cookie: c, hdr: map[string]string{console.CSRFHeader: csrf}})
	if res.StatusCode != 204 || res.Cookies()[0].MaxAge >= 0 {
		t.Fatalf("sign-out: %d %+v", res.StatusCode, res.Cookies())
	}
	if st, _ := e.listAccounts(c, csrf); st != 401 {
		t.Errorf("after sign-out, the old cookie: %d, want 401", st)
	}
	// Expiry.
	c, csrf = e.signIn(t, e.admin)
	e.advance(time.Hour)
	if st, _ := e.listAccounts(c, csrf); st != 401 {
		t.Errorf("expired: %d, want 401", st)
	}
	// Revoking the API key ends its sessions (the API re-checks the token).
	kc, kcsrf := e.signIn(t, e.key)
	if res := e.do(req{method: "GET", path: "/console/session", cookie: kc}); res.StatusCode != 200 {
		t.Fatalf("session info: %d", res.StatusCode)
	}
	if _, err := e.accounts.RevokeAPIKey(account.WithPrincipal(context.Background(), account.Principal{Admin: true}), e.keyID); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.listAccounts(kc, kcsrf); st != 401 {
		t.Errorf("revoked key's session: %d, want 401", st)
	}
	if res := e.do(req{method: "GET", path: "/console/session", cookie: kc}); res.StatusCode != 401 {
		t.Errorf("revoked key's session info: %d, want 401", res.StatusCode)
	}
}

func TestStreamBridge(t *testing.T) {
	e := newEnv(t)
	c, csrf := e.signIn(t, e.admin)
	ws := func(origin, protocols string) int {
		h := map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}
		if origin != "" {
			h["Origin"] = origin
		}
		if protocols != "" {
			h["Sec-WebSocket-Protocol"] = protocols
		}
		return e.do(req{method: "GET", path: "/console/ws?deviceId=d1&last=5", hdr: h, cookie: c}).StatusCode
	}
	if st := ws("", "liveplane.v1, csrf."+csrf); st != 403 {
		t.Errorf("no Origin: %d, want 403", st)
	}
	if st := ws("https://evil.example", "liveplane.v1, csrf."+csrf); st != 403 {
		t.Errorf("cross-origin: %d, want 403", st)
	}
	if st := ws("http://console.test", "liveplane.v1"); st != 403 {
		t.Errorf("no CSRF: %d, want 403", st)
	}
	if st := ws("http://console.test", "liveplane.v1, csrf."+csrf); st != 101 {
		t.Fatalf("good: %d, want the stream's 101", st)
	}
	e.mu.Lock()
	r := e.streamed
	e.mu.Unlock()
	if r.URL.Path != "/ws" || r.URL.RawQuery != "deviceId=d1&last=5" || r.Header.Get("Authorization") != "Bearer "+e.admin ||
		r.Header.Get("Cookie") != "" || r.Header.Get("Origin") != "" || r.Header.Get("Sec-WebSocket-Protocol") != "liveplane.v1" {
		t.Errorf("forwarded %s %v", r.URL, r.Header)
	}
}

func TestAssets(t *testing.T) {
	e := newEnv(t)
	res := e.do(req{method: "GET", path: "/"})
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("index: %d %v", res.StatusCode, res.Header)
	}
	if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("index security headers: %v", res.Header)
	}
	i := strings.Index(string(body), `/console/assets/app.js?v=`)
	if i < 0 {
		t.Fatalf("index does not reference a versioned app.js:\n%s", body)
	}
	versioned := string(body[i : i+len(`/console/assets/app.js?v=`)+12])
	res = e.do(req{method: "GET", path: versioned})
	if res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("versioned app.js: %v", res.Header)
	}
	etag := res.Header.Get("ETag")
	res = e.do(req{method: "GET", path: "/console/assets/app.js", hdr: map[string]string{"If-None-Match": etag}})
	if res.StatusCode != 304 || res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("revalidation: %d %v", res.StatusCode, res.Header)
	}
	total := 0
	for _, name := range []string{"style.css", "api.js", "dom.js", "logs.js", "accounts.js", "devices.js", "device.js", "charts.js", "pickup.js", "icon.svg"} {
		res := e.do(req{method: "GET", path: "/console/assets/" + name})
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", name, res.StatusCode)
		}
		total += len(b)
	}
	if total+len(body) > console.MaxAssetBytes {
		t.Errorf("page weight %d > %d", total+len(body), console.MaxAssetBytes)
	}
	if res := e.do(req{method: "GET", path: "/console/assets/nope.js"}); res.StatusCode != 404 {
		t.Errorf("unknown asset: %d", res.StatusCode)
	}
	t.Logf("console page weight: %d bytes", total+len(body))
}
