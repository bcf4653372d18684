package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// hook is a webhook endpoint that answers from a script of statuses (then 200).
type hook struct {
	mu     sync.Mutex
	script []int
	calls  []map[string]string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]string
	_ = json.NewDecoder(r.Body).Decode(&body)
	h.mu.Lock()
	h.calls = append(h.calls, body)
	status := 200
	if len(h.script) > 0 {
		status, h.script = h.script[0], h.script[1:]
	}
	h.mu.Unlock()
	w.WriteHeader(status)
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// Push through the real binary to a local webhook: coalesced per token and
// window while 1,000 messages arrive in a second, retried on 503 until one
// success, and never sent while a live session is held.
func TestPickupPushWebhook(t *testing.T) {
	coalesced, flaky, quiet := &hook{}, &hook{script: []int{503, 503}}, &hook{}
	hc, hf, hq := httptest.NewServer(coalesced), httptest.NewServer(flaky), httptest.NewServer(quiet)
	defer hc.Close()
	defer hf.Close()
	defer hq.Close()
	s := startServe(t, "", nil, "--push-webhook-allow", "http://127.0.0.1", "--push-window", "3s")
	key := s.accountKey(t, "pushers")
	c := mustDialMPR(t, s.pickupAddr(t), key)

	// 1,000 messages in about a second to an offline recipient: one notification.
	tok := map[string]string{"type": "webhook", "token": hc.URL + "/wake"}
	start := time.Now()
	var first string
	for i := range 1000 {
		id := c.add("offline", tok)
		if i == 0 {
			first = id
		}
		if d := time.Duration(i) * time.Millisecond; time.Since(start) < d {
			time.Sleep(d - time.Since(start))
		}
	}
	if el := time.Since(start); el > 2500*time.Millisecond {
		t.Fatalf("1,000 adds took %v; the window (3s) must cover them for this test", el)
	}
	time.Sleep(1500 * time.Millisecond) // delivery, and any duplicate that would follow
	if n := coalesced.count(); n != 1 {
		t.Fatalf("%d notifications for 1,000 messages inside one window, want 1", n)
	}
	if got := coalesced.calls[0]; got["messageId"] != first || got["connectionId"] != "offline" {
		t.Fatalf("notification %v, want the window's first message %s", got, first)
	}
	// The next window gets its own.
	time.Sleep(time.Until(start.Add(3200 * time.Millisecond)))
	c.add("offline", tok)
	waitUntil(t, 3*time.Second, "a notification in the next window", func() bool { return coalesced.count() == 2 })

	// 503, 503, 200: retried with backoff, exactly one success.
	c.add("flaky", map[string]string{"type": "webhook", "token": hf.URL + "/wake"})
	waitUntil(t, 10*time.Second, "three attempts", func() bool { return flaky.count() == 3 })
	time.Sleep(1500 * time.Millisecond)
	if n := flaky.count(); n != 3 {
		t.Fatalf("%d webhook calls, want 503, 503, 200 and nothing after", n)
	}
	if sent := s.metric(t, `liveplane_pickup_push_total{outcome="sent",type="webhook"}`); sent != 3 {
		t.Fatalf("sent notifications = %v, want 3 (one per window above, one after the retries)", sent)
	}
	if retried := s.metric(t, `liveplane_pickup_push_total{outcome="due",type="webhook"}`); retried != 2 {
		t.Fatalf("retries = %v, want 2", retried)
	}

	// Never while a live session is held.
	holder := mustDialMPR(t, s.pickupAddr(t), key)
	holder.must("addLiveSession", map[string]string{"connectionId": "online", "sessionId": "s1"}, nil)
	for range 20 {
		c.add("online", map[string]string{"type": "webhook", "token": hq.URL + "/wake"})
	}
	time.Sleep(1500 * time.Millisecond)
	if n := quiet.count(); n != 0 {
		t.Fatalf("%d notifications while a live session was held", n)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
