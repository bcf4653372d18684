package pickupgw_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/drivers/pickupgw"
)

var jsDate = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestEveryMethodAndResultShape(t *testing.T) {
	e := newEnv(t, pickupgw.Options{}, pickup.Options{})
	c := e.dial(t)
	if got := string(c.ok("ping", nil)); got != `"pong"` {
		t.Fatalf("ping = %s", got)
	}
	if got := string(c.ok("rpc.on", []string{"messagesReceived"})); got != `{"messagesReceived":"ok"}` {
		t.Fatalf("rpc.on = %s", got)
	}
	if got := string(c.ok("rpc.on", []string{"nope"})); got != `{"nope":"provided event invalid"}` {
		t.Fatalf("rpc.on unknown = %s", got)
	}
	var ids []string
	for i := range 3 {
		var r map[string]string
		res := c.ok("addMessage", map[string]any{"connectionId": "conn-1", "recipientDids": []string{"did:key:z6Mk"},
			"payload": payload(i)})
		if err := json.Unmarshal(res, &r); err != nil || len(r) != 1 || r["messageId"] == "" {
			t.Fatalf("addMessage = %s", res)
		}
		ids = append(ids, r["messageId"])
	}
	if got := string(c.ok("getAvailableMessageCount", map[string]any{"connectionId": "conn-1"})); got != "3" {
		t.Fatalf("count = %s", got)
	}
	if got := string(c.ok("getAvailableMessageCount", map[string]any{"connectionId": "conn-1", "recipientDid": "did:other"})); got != "0" {
		t.Fatalf("count for another DID = %s", got)
	}
	var msgs []queued
	res := c.ok("takeFromQueue", map[string]any{"connectionId": "conn-1", "limit": 2})
	if err := json.Unmarshal(res, &msgs); err != nil || len(msgs) != 2 {
		t.Fatalf("take = %s", res)
	}
	want, _ := json.Marshal(payload(0))
	if msgs[0].ID != ids[0] || msgs[1].ID != ids[1] || !jsDate.MatchString(msgs[0].ReceivedAt) || string(msgs[0].EncryptedMessage) != string(want) {
		t.Fatalf("take = %s", res)
	}
	if strings.Count(string(res), `"id"`) != 2 || !strings.HasPrefix(string(res), `[{"id":`) {
		t.Fatalf("QueuedMessage shape: %s", res)
	}
	if got := string(c.ok("removeMessages", map[string]any{"connectionId": "conn-1", "messageIds": []string{ids[0], ids[1]}})); got != "true" {
		t.Fatalf("removeMessages = %s", got)
	}
	res = c.ok("takeFromQueue", map[string]any{"connectionId": "conn-1", "deleteMessages": true})
	if err := json.Unmarshal(res, &msgs); err != nil || len(msgs) != 1 || msgs[0].ID != ids[2] {
		t.Fatalf("take rest = %s", res)
	}
	if got := string(c.ok("getAvailableMessageCount", map[string]any{"connectionId": "conn-1"})); got != "0" {
		t.Fatalf("count after = %s", got)
	}
	c.ok("addMessage", map[string]any{"connectionId": "conn-1", "recipientDids": []string{"did:x"}, "payload": payload(9)})
	if got := string(c.ok("removeAllMessages", map[string]any{"connectionId": "conn-1", "recipientDid": "did:x"})); got != "true" {
		t.Fatalf("removeAllMessages = %s", got)
	}
	if got := string(c.ok("getLiveSession", map[string]any{"connectionId": "conn-1"})); got != "false" {
		t.Fatalf("getLiveSession before = %s", got)
	}
	if got := string(c.ok("addLiveSession", map[string]any{"connectionId": "conn-1", "sessionId": "s-1"})); got != "true" {
		t.Fatalf("addLiveSession = %s", got)
	}
	if got := string(c.ok("getLiveSession", map[string]any{"connectionId": "conn-1"})); got != "true" {
		t.Fatalf("getLiveSession = %s", got)
	}
	if got := string(c.ok("removeLiveSession", map[string]any{"connectionId": "conn-1"})); got != "true" {
		t.Fatalf("removeLiveSession = %s", got)
	}
	if got := string(c.ok("removeLiveSession", map[string]any{"connectionId": "conn-1"})); got != "false" {
		t.Fatalf("second removeLiveSession = %s", got)
	}
	if got := string(c.ok("rpc.off", []string{"messagesReceived"})); got != `{"messagesReceived":"ok"}` {
		t.Fatalf("rpc.off = %s", got)
	}
}

func TestBadInputGetsRealErrors(t *testing.T) {
	e := newEnv(t, pickupgw.Options{MaxMessageBytes: 1000}, pickup.Options{MaxMessageBytes: 1000})
	c := e.dial(t)
	cases := []struct {
		method string
		params any
		code   int
		text   string
	}{
		{"nope", map[string]any{}, -32601, "Method not found: nope"},
		{"addMessage", map[string]any{"recipientDids": []string{"d"}, "payload": payload(1)}, -32602, "connectionId is required"},
		{"addMessage", map[string]any{"connectionId": 7, "recipientDids": []string{"d"}, "payload": payload(1)}, -32602, "connectionId must be a string"},
		{"addMessage", map[string]any{"connectionId": "c", "payload": payload(1)}, -32602, "recipientDids is required"},
		{"addMessage", map[string]any{"connectionId": "c", "recipientDids": []string{}, "payload": payload(1)}, -32602, "recipientDids must list"},
		{"addMessage", map[string]any{"connectionId": "c", "recipientDids": []string{"d"}}, -32602, "payload is required"},
		{"addMessage", map[string]any{"connectionId": "c", "recipientDids": []string{"d"}, "payload": "x"}, -32602, "payload must be a JSON object"},
		{"addMessage", map[string]any{"connectionId": "c", "recipientDids": []string{"d"}, "payload": map[string]string{"ct": strings.Repeat("x", 2000)}},
			-32002, "over the limit of 1000; nothing was stored"},
		{"addMessage", map[string]any{"connectionId": "c", "recipientDids": []string{"d"}, "payload": payload(1), "pushNotificationToken": map[string]any{"token": "t"}},
			-32602, "pushNotificationToken.type is required"},
		{"takeFromQueue", map[string]any{"connectionId": "c", "limit": -1}, -32602, "limit must be a non-negative integer"},
		{"takeFromQueue", map[string]any{"connectionId": "c", "limit": 1.5}, -32602, "limit must be a non-negative integer"},
		{"takeFromQueue", map[string]any{"connectionId": "c", "deleteMessages": "yes"}, -32602, "deleteMessages must be a boolean"},
		{"takeFromQueue", []any{"c"}, -32602, "params must be an object"},
		{"removeMessages", map[string]any{"connectionId": "c"}, -32602, "messageIds is required"},
		{"removeAllMessages", map[string]any{"connectionId": "c"}, -32602, "recipientDid is required"},
		{"addLiveSession", map[string]any{"connectionId": "c"}, -32602, "sessionId is required"},
		{"getLiveSession", map[string]any{"connectionId": "a\nb"}, -32602, "connectionId contains a control character"},
	}
	for _, tc := range cases {
		_, err := c.call(tc.method, tc.params)
		if err == nil || err.Code != tc.code || !strings.Contains(err.Message, tc.text) {
			t.Errorf("%s %v: got %+v, want %d containing %q", tc.method, tc.params, err, tc.code, tc.text)
		}
	}
	if got := string(c.ok("getAvailableMessageCount", map[string]any{"connectionId": "c"})); got != "0" {
		t.Fatalf("refused adds stored something: count %s", got)
	}
	// Protocol-level errors.
	raw := []struct{ id, frame, want string }{
		{"null", `{"jsonrpc":"2.0","method":`, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error: the frame is not valid JSON"},"id":null}`},
		{"5", `{"jsonrpc":"1.0","method":"ping","id":5}`, `"code":-32600`},
		{"6", `{"jsonrpc":"2.0","method":"ping","params":7,"id":6}`, `"code":-32602`},
		{"batch", `[{"jsonrpc":"2.0","method":"ping","id":7},{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"nope","id":"x"}]`,
			`[{"jsonrpc":"2.0","result":"pong","id":7},{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found: nope"},"id":"x"}]`},
	}
	for _, r := range raw {
		if got := string(c.raw(r.id, r.frame)); !strings.Contains(got, r.want) {
			t.Errorf("%s -> %s, want %s", r.frame, got, r.want)
		}
	}
	// A notification (no id) gets no answer, even when it fails.
	stray := make(chan json.RawMessage, 1)
	c.mu.Lock()
	c.wait["null"] = stray
	c.mu.Unlock()
	if err := c.ws.Write(t.Context(), 1, []byte(`{"jsonrpc":"2.0","method":"nope","params":{}}`)); err != nil {
		t.Fatal(err)
	}
	c.ok("ping", nil)
	select {
	case b := <-stray:
		t.Fatalf("a notification was answered: %s", b)
	case <-time.After(200 * time.Millisecond):
	}
}

// A frame over the hard read limit closes the socket with 1009; below it,
// an oversize payload is a JSON-RPC error (above) and the socket lives on.
func TestFrameOverReadLimitClosesSocket(t *testing.T) {
	e := newEnv(t, pickupgw.Options{MaxMessageBytes: 1000}, pickup.Options{MaxMessageBytes: 1000})
	c := e.dial(t)
	big := fmt.Sprintf(`{"jsonrpc":"2.0","method":"addMessage","params":{"connectionId":"c","recipientDids":["d"],"payload":{"x":"%s"}},"id":1}`,
		strings.Repeat("x", 100<<10))
	_ = c.ws.Write(t.Context(), 1, []byte(big))
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("socket not closed after an oversize frame")
	}
	d := e.dial(t)
	if got := string(d.ok("getAvailableMessageCount", map[string]any{"connectionId": "c"})); got != "0" {
		t.Fatalf("oversize frame stored something: %s", got)
	}
}
