package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/console"
	"github.com/liveplane/liveplane/internal/drivers/rpc"
)

const relayToken = "relay-service-token-0123"

// ticketEnv is the console with a relay: real accounts and devices (SQLite),
// a device of "alpha" and one of "beta".
func ticketEnv(t *testing.T) (e *env, mine, theirs string) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e = &env{mux: http.NewServeMux(), now: time.Now()}
	e.accounts = account.NewService(st.Accounts(), domain.SystemClock{})
	devices := device.NewService(st.Devices(), domain.SystemClock{}, device.Options{})
	if e.admin, err = e.accounts.EnsureAdminToken(ctx); err != nil {
		t.Fatal(err)
	}
	admin := account.WithPrincipal(ctx, account.Principal{Admin: true})
	var ids []string
	for i, name := range []string{"alpha", "beta"} {
		c, err := e.accounts.Create(admin, account.CreateInput{Name: name, WithAPIKey: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := devices.Create(admin, c.Account.ID, "sensor")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			e.key, e.keyID = c.Secret, c.Key.ID
		}
		ids = append(ids, d.Device.ID)
	}
	rpc.Mount(e.mux, e.accounts, slog.New(slog.DiscardHandler))
	con, err := console.New(console.Options{
		Auth: e.accounts, Secret: bytes.Repeat([]byte{1}, 32), API: e.mux, Stream: http.NotFoundHandler(),
		TTL: time.Hour, Now: func() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now },
		RelayURL: "http://relay.test:8090/", RelayTokens: []string{relayToken}, Devices: devices,
	})
	if err != nil {
		t.Fatal(err)
	}
	con.Mount(e.mux)
	return e, ids[0], ids[1]
}

func TestRelayTickets(t *testing.T) {
	e, mine, theirs := ticketEnv(t)
	ck, csrf := e.signIn(t, e.key)
	withCSRF := map[string]string{"Content-Type": "application/json", console.CSRFHeader: csrf}

	// The session says where the relay is, and the page may connect there.
	res := e.do(req{method: "GET", path: "/console/session", cookie: ck})
	var info struct{ RelayURL string }
	json.NewDecoder(res.Body).Decode(&info)
	if info.RelayURL != "http://relay.test:8090" {
		t.Fatalf("session relayUrl %q", info.RelayURL)
	}
	res = e.do(req{method: "GET", path: "/"})
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' http://relay.test:8090 ws://relay.test:8090;") {
		t.Fatalf("CSP does not admit the relay: %s", csp)
	}

	mint := func(dev string, hdr map[string]string, c *http.Cookie) (int, string) {
		res := e.do(req{method: "POST", path: "/console/tickets", body: `{"deviceId":"` + dev + `"}`, hdr: hdr, cookie: c})
		var b struct{ Ticket string }
		json.NewDecoder(res.Body).Decode(&b)
		return res.StatusCode, b.Ticket
	}
	verify := func(tok, ticket, dev string) int {
		h := map[string]string{"Content-Type": "application/json"}
		if tok != "" {
			h["Authorization"] = "Bearer " + tok
		}
		body, _ := json.Marshal(map[string]string{"ticket": ticket, "deviceId": dev})
		res := e.do(req{method: "POST", path: "/console/tickets/verify", body: string(body), hdr: h})
		io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	if code, _ := mint(mine, jsonCT, ck); code != http.StatusForbidden {
		t.Fatalf("mint without CSRF: %d", code)
	}
	if code, _ := mint(mine, withCSRF, nil); code != http.StatusUnauthorized {
		t.Fatalf("mint without session: %d", code)
	}
	if code, _ := mint("not-an-id", withCSRF, ck); code != http.StatusBadRequest {
		t.Fatalf("mint for a bad id: %d", code)
	}

	code, tk := mint(mine, withCSRF, ck)
	if code != 200 || tk == "" || strings.Contains(tk, e.key) {
		t.Fatalf("mint: %d %q", code, tk)
	}
	if c := verify("", tk, mine); c != http.StatusForbidden {
		t.Fatalf("verify without the relay's token: %d", c)
	}
	if c := verify("wrong-token-0123456789", tk, mine); c != http.StatusForbidden {
		t.Fatalf("verify with a wrong relay token: %d", c)
	}
	if c := verify(relayToken, tk, theirs); c != http.StatusUnauthorized {
		t.Fatalf("ticket used for another device: %d", c)
	}
	flip := map[byte]string{'A': "B"}[tk[20]]
	if flip == "" {
		flip = "A"
	}
	if c := verify(relayToken, tk[:20]+flip+tk[21:], mine); c != http.StatusUnauthorized {
		t.Fatalf("tampered ticket: %d", c)
	}
	if c := verify(relayToken, tk, mine); c != http.StatusNoContent {
		t.Fatalf("good ticket: %d", c)
	}
	if c := verify(relayToken, tk, mine); c != http.StatusUnauthorized {
		t.Fatalf("ticket used twice: %d", c)
	}

	// Another account's device: 404, as for an unknown one.
	_, tk = mint(theirs, withCSRF, ck)
	if c := verify(relayToken, tk, theirs); c != http.StatusNotFound {
		t.Fatalf("another account's device: %d", c)
	}

	// Expired after TicketTTL.
	_, tk = mint(mine, withCSRF, ck)
	e.advance(console.TicketTTL + time.Second)
	if c := verify(relayToken, tk, mine); c != http.StatusUnauthorized {
		t.Fatalf("expired ticket: %d", c)
	}

	// Signed out here: the session's unused tickets die with it.
	_, tk = mint(mine, withCSRF, ck)
	res = e.do(req{method: "DELETE", path: "/console/session", hdr: withCSRF, cookie: ck})
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out: %d", res.StatusCode)
	}
	if c := verify(relayToken, tk, mine); c != http.StatusUnauthorized {
		t.Fatalf("ticket of a signed-out session: %d", c)
	}

	// A revoked key: its tickets are refused at once.
	ck, csrf = e.signIn(t, e.key)
	withCSRF[console.CSRFHeader] = csrf
	_, tk = mint(mine, withCSRF, ck)
	if _, err := e.accounts.RevokeAPIKey(account.WithPrincipal(context.Background(), account.Principal{Admin: true}), e.keyID); err != nil {
		t.Fatal(err)
	}
	if c := verify(relayToken, tk, mine); c != http.StatusUnauthorized {
		t.Fatalf("ticket of a revoked key: %d", c)
	}
}
