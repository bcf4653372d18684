package pickupgw_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/drivers/pickupgw"
)

func addMsg(t *testing.T, c *client, conn string, i int) string {
	t.Helper()
	var r struct{ MessageID string }
	if err := json.Unmarshal(c.ok("addMessage", map[string]any{"connectionId": conn, "recipientDids": []string{"did:r"},
		"payload": payload(i)}), &r); err != nil {
		t.Fatal(err)
	}
	return r.MessageID
}

func noteIDs(n note) []string {
	var out []string
	for _, m := range n.Params.Messages {
		out = append(out, m.ID)
	}
	return out
}

// collect gathers notified message ids until want of them arrived.
func collect(t *testing.T, c *client, want int, within time.Duration) []string {
	t.Helper()
	var got []string
	deadline := time.Now().Add(within)
	for len(got) < want {
		n, ok := c.note(time.Until(deadline))
		if !ok {
			t.Fatalf("got %d of %d notified messages", len(got), want)
		}
		got = append(got, noteIDs(n)...)
	}
	return got
}

func TestLiveSessionDrainsThenDeliversLive(t *testing.T) {
	e := newEnv(t, pickupgw.Options{}, pickup.Options{})
	holder, sender := e.dial(t), e.dial(t)
	queued := []string{addMsg(t, sender, "c", 0), addMsg(t, sender, "c", 1)}
	holder.ok("rpc.on", []string{"messagesReceived"})
	holder.ok("addLiveSession", map[string]any{"connectionId": "c", "sessionId": "s1"})
	n, ok := holder.note(2 * time.Second)
	if !ok || n.Params.ConnectionID != "c" || !slices.Equal(noteIDs(n), queued) {
		t.Fatalf("drain on session start: %+v", n)
	}
	live := addMsg(t, sender, "c", 2)
	n, ok = holder.note(2 * time.Second)
	if !ok || !slices.Equal(noteIDs(n), []string{live}) || !jsDate.MatchString(n.Params.Messages[0].ReceivedAt) {
		t.Fatalf("live delivery: %+v", n)
	}
	// In flight, not available; acknowledged by the holder, gone.
	if got := string(sender.ok("getAvailableMessageCount", map[string]any{"connectionId": "c"})); got != "0" {
		t.Fatalf("count while in flight = %s", got)
	}
	holder.ok("removeMessages", map[string]any{"connectionId": "c", "messageIds": append(queued, live)})
	// Another connection's messages never reach this socket.
	addMsg(t, sender, "other", 3)
	if n, ok := holder.note(200 * time.Millisecond); ok {
		t.Fatalf("notified for a connection it does not hold: %+v", n)
	}
	// rpc.off stops notifications.
	holder.ok("rpc.off", []string{"messagesReceived"})
	addMsg(t, sender, "c", 4)
	if n, ok := holder.note(200 * time.Millisecond); ok {
		t.Fatalf("notified after rpc.off: %+v", n)
	}
}

// A session that starts on a backlog of several drain passes, while
// another socket keeps adding: the holder receives every message once, in
// queue order (the adds that go live wait behind the backlog).
func TestSessionStartKeepsQueueOrderUnderConcurrentAdds(t *testing.T) {
	e := newEnv(t, pickupgw.Options{}, pickup.Options{})
	holder, sender, adder := e.dial(t), e.dial(t), e.dial(t)
	var want []string
	for i := range 300 { // five drain passes of 64
		want = append(want, addMsg(t, sender, "c", i))
	}
	holder.ok("rpc.on", []string{"messagesReceived"})
	live := make(chan []string)
	go func() {
		var ids []string
		defer func() { live <- ids }()
		for i := range 60 {
			res, rerr := adder.call("addMessage", map[string]any{"connectionId": "c", "recipientDids": []string{"did:r"},
				"payload": payload(1000 + i)})
			var r struct{ MessageID string }
			if rerr != nil || json.Unmarshal(res, &r) != nil {
				t.Errorf("add %d: %v %s", i, rerr, res)
				return
			}
			ids = append(ids, r.MessageID)
		}
	}()
	holder.ok("addLiveSession", map[string]any{"connectionId": "c", "sessionId": "s1"})
	want = append(want, <-live...)
	got := collect(t, holder, len(want), 10*time.Second)
	if !slices.Equal(got, want) {
		first := 0
		for first < len(got) && got[first] == want[first] {
			first++
		}
		t.Fatalf("holder received %d messages out of queue order from position %d", len(got), first)
	}
}

func TestTakeoverLateRemovesAndGrace(t *testing.T) {
	e := newEnv(t, pickupgw.Options{}, pickup.Options{TakeoverGrace: 300 * time.Millisecond})
	old, nu, sender := e.dial(t), e.dial(t), e.dial(t)
	old.ok("addLiveSession", map[string]any{"connectionId": "c", "sessionId": "s1"})
	m1 := addMsg(t, sender, "c", 1)
	if got := collect(t, old, 1, 2*time.Second); !slices.Equal(got, []string{m1}) {
		t.Fatalf("old holder got %v", got)
	}
	nu.ok("addLiveSession", map[string]any{"connectionId": "c", "sessionId": "s2"})
	m2 := addMsg(t, sender, "c", 2)
	if got := collect(t, nu, 1, 2*time.Second); !slices.Equal(got, []string{m2}) {
		t.Fatalf("new holder got %v, want the message added after the takeover", got)
	}
	// Late calls from the superseded session change nothing for the new one.
	if got := string(old.ok("removeLiveSession", map[string]any{"connectionId": "c"})); got != "false" {
		t.Fatalf("stale removeLiveSession = %s", got)
	}
	old.ok("removeMessages", map[string]any{"connectionId": "c", "messageIds": []string{m2}})
	if got := string(sender.ok("getLiveSession", map[string]any{"connectionId": "c"})); got != "true" {
		t.Fatal("stale remove ended the new session")
	}
	// m1 was in flight to the old session and never acknowledged: after the
	// grace period it goes to the new holder. m2 (in flight to the new one)
	// survived the old holder's remove.
	if got := collect(t, nu, 1, 3*time.Second); !slices.Equal(got, []string{m1}) {
		t.Fatalf("after grace the new holder got %v, want %v", got, m1)
	}
	if n, ok := old.note(300 * time.Millisecond); ok {
		t.Fatalf("superseded holder was notified: %+v", n)
	}
	nu.ok("removeMessages", map[string]any{"connectionId": "c", "messageIds": []string{m1, m2}})
	res := sender.ok("takeFromQueue", map[string]any{"connectionId": "c"})
	if string(res) != "[]" {
		t.Fatalf("queue after acks: %s", res)
	}
}

func TestClosingTheSocketEndsItsSessions(t *testing.T) {
	e := newEnv(t, pickupgw.Options{}, pickup.Options{})
	holder, other := e.dial(t), e.dial(t)
	holder.ok("addLiveSession", map[string]any{"connectionId": "c", "sessionId": "s1"})
	holder.ws.CloseNow()
	deadline := time.Now().Add(3 * time.Second)
	for string(other.ok("getLiveSession", map[string]any{"connectionId": "c"})) != "false" {
		if time.Now().After(deadline) {
			t.Fatal("session outlived its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAuthTokensAndAccountScope(t *testing.T) {
	e := newEnv(t, pickupgw.Options{}, pickup.Options{})
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer lpk_wrong"}}} {
		if _, resp, err := dialRaw(e.url, h); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("dial with %v: %v %v, want 401", h, resp, err)
		}
	}
	adminToken, err := e.accounts.EnsureAdminToken(t.Context())
	if err != nil || adminToken == "" {
		t.Fatal(err)
	}
	if _, resp, _ := dialRaw(e.url, http.Header{"Authorization": {"Bearer " + adminToken}}); resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("admin token: %v, want 403", resp)
	}
	// The three ways in, all scoped to the key's account.
	byHeader := e.dial(t)
	addMsg(t, byHeader, "shared-id", 1)
	userinfo := dialHeader(t, "ws://"+e.key+"@"+e.url[len("ws://"):], nil)
	query := dialHeader(t, e.url+"/?token="+e.key, nil)
	for _, c := range []*client{userinfo, query} {
		if got := string(c.ok("getAvailableMessageCount", map[string]any{"connectionId": "shared-id"})); got != "1" {
			t.Fatalf("same account sees %s", got)
		}
	}
	// Another account's key sees another queue under the same connection id.
	other, err := e.accounts.Create(admin, accountInput("other-tenant"))
	if err != nil {
		t.Fatal(err)
	}
	c2 := dialHeader(t, e.url, http.Header{"Authorization": {"Bearer " + other.Secret}})
	if got := string(c2.ok("getAvailableMessageCount", map[string]any{"connectionId": "shared-id"})); got != "0" {
		t.Fatalf("another account sees %s", got)
	}
}

func TestOpenModeOnlyWhenConfigured(t *testing.T) {
	e := newEnv(t, pickupgw.Options{Open: true}, pickup.Options{})
	c := dialHeader(t, e.url, nil)
	if got := string(c.ok("ping", nil)); got != `"pong"` {
		t.Fatal(got)
	}
}
