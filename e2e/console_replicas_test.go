package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/testinfra/natstest"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// Two console replicas with one console key on one NATS cluster: a
// sign-out on A ends the session on B, and a relay ticket opens one relay
// connection in the deployment, whichever replica the relay asks.
func TestRigConsoleSignOutAndTicketsAcrossReplicas(t *testing.T) {
	db := pgtest.New(t)
	r := &rig{db: db, nats: natstest.StartCluster(t, 3)}
	key := strings.Repeat("ab", 32) + "\n"
	const relayToken = "relay-token-for-the-console-replicas-test"
	var urls []string
	for range 2 {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "console.key"), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		s := startServe(t, dir, nil, "--database", db, "--nats", r.nats.URLs(),
			"--relay-tokens", relayToken, "--console-relay-url", "http://127.0.0.1:1")
		r.replicas = append(r.replicas, s)
		urls = append(urls, s.url)
	}
	token := max(r.replicas[0].token, r.replicas[1].token)
	for _, s := range r.replicas {
		s.token = token
	}
	a, b := urls[0], urls[1]

	// Sign in on A; the cookie works on B (same key).
	cookie, csrf := consoleSignIn(t, a, token)
	if code := consoleGet(t, b, cookie); code != http.StatusOK {
		t.Fatalf("session on B before sign-out: %d, want 200", code)
	}

	// A device for the ticket.
	dev := r.replicas[0].newDevice(t).GetDevice().GetId()

	// A ticket minted on A, verified by "the relay" on A: 204; the same
	// ticket replayed to B: 401 (used).
	ticket := consoleTicket(t, a, cookie, csrf, dev)
	if code := verifyTicket(t, a, relayToken, ticket, dev); code != http.StatusNoContent {
		t.Fatalf("first verification on A: %d, want 204", code)
	}
	if code := verifyTicket(t, b, relayToken, ticket, dev); code != http.StatusUnauthorized {
		t.Fatalf("the same ticket on B: %d, want 401 (used)", code)
	}
	// And the other way round: first use on B, replay on A.
	ticket = consoleTicket(t, a, cookie, csrf, dev)
	if code := verifyTicket(t, b, relayToken, ticket, dev); code != http.StatusNoContent {
		t.Fatalf("first verification on B: %d, want 204", code)
	}
	if code := verifyTicket(t, a, relayToken, ticket, dev); code != http.StatusUnauthorized {
		t.Fatalf("the same ticket on A: %d, want 401 (used)", code)
	}

	// Sign out on A: B refuses the same cookie shortly after.
	req, _ := http.NewRequest(http.MethodDelete, a+"/console/session", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-CSRF-Token", csrf)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("sign-out on A: %d", res.StatusCode)
	}
	took := waitFor(t, 5*time.Second, "B refuses the signed-out session", func() bool {
		return consoleGet(t, b, cookie) == http.StatusUnauthorized
	})
	t.Logf("sign-out on A refused on B after %v", took)
}

func consoleSignIn(t *testing.T, base, token string) (cookie, csrf string) {
	t.Helper()
	res, err := http.Post(base+"/console/session", "application/json", strings.NewReader(fmt.Sprintf(`{"token":%q}`, token)))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var info struct {
		CSRF string `json:"csrf"`
	}
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %d %v", res.StatusCode, err)
	}
	for _, c := range res.Cookies() {
		if c.Name == "liveplane_session" {
			return c.Name + "=" + c.Value, info.CSRF
		}
	}
	t.Fatal("sign-in set no session cookie")
	return "", ""
}

func consoleGet(t *testing.T, base, cookie string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/console/session", nil)
	req.Header.Set("Cookie", cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func consoleTicket(t *testing.T, base, cookie, csrf, dev string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/console/tickets", strings.NewReader(fmt.Sprintf(`{"deviceId":%q}`, dev)))
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Ticket string `json:"ticket"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || out.Ticket == "" {
		t.Fatalf("mint ticket: %d %v", res.StatusCode, err)
	}
	return out.Ticket
}

func verifyTicket(t *testing.T, base, relayToken, ticket, dev string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"ticket": ticket, "deviceId": dev})
	req, _ := http.NewRequest(http.MethodPost, base+"/console/tickets/verify", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+relayToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
