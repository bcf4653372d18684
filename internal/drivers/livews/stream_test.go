package livews_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/drivers/livews"
)

func TestHistoryThenLiveWithoutGapOrDuplicate(t *testing.T) {
	e := newEnv(t, livews.Options{})
	e.publish(t, e.dev, 1, 5)
	e.publish(t, e.otherDev, 1, 2)
	c := e.dial(t, "deviceId="+e.dev+"&last=3", e.key)
	if !c.hello.Recovered || c.hello.DeviceID != e.dev || c.hello.Epoch == "" {
		t.Fatalf("hello = %+v", c.hello)
	}
	hist := c.lines(3, c.hello.LastSeq)
	if hist[0].n() != 3 || hist[2].n() != 5 || hist[0].DeviceID != e.dev || hist[0].Epoch != c.hello.Epoch {
		t.Fatalf("history = %+v", hist)
	}
	e.publish(t, e.otherDev, 3, 1) // not ours: never delivered
	e.publish(t, e.dev, 6, 3)
	tail := c.lines(3, hist[2].Seq)
	if tail[0].n() != 6 || tail[2].n() != 8 {
		t.Fatalf("tail = %+v", tail)
	}

	// Without last: the live tail only, from the latest seq.
	c2 := e.dial(t, "deviceId="+e.dev, e.key)
	if c2.hello.LastSeq != tail[2].Seq {
		t.Fatalf("hello.lastSeq = %d, want %d", c2.hello.LastSeq, tail[2].Seq)
	}
	e.publish(t, e.dev, 9, 1)
	if l := c2.lines(1, tail[2].Seq); l[0].n() != 9 {
		t.Fatalf("live = %+v", l)
	}
	if got := metric(t, e, "liveplane_ws_subscribers", ""); got != 2 { // helper below
		t.Fatalf("subscribers gauge = %v", got)
	}
}

func TestResumeDeliversMissedLinesOnce(t *testing.T) {
	e := newEnv(t, livews.Options{})
	c := e.dial(t, "deviceId="+e.dev, e.key)
	e.publish(t, e.dev, 1, 3)
	got := c.lines(3, c.hello.LastSeq)
	c.ws.Close(websocket.StatusNormalClosure, "")
	e.publish(t, e.dev, 4, 4) // missed while away

	r := e.dial(t, fmt.Sprintf("deviceId=%s&seq=%d&epoch=%s", e.dev, got[2].Seq, c.hello.Epoch), e.key)
	if !r.hello.Recovered || r.hello.LastSeq != got[2].Seq {
		t.Fatalf("hello = %+v", r.hello)
	}
	missed := r.lines(4, got[2].Seq)
	if missed[0].n() != 4 || missed[3].n() != 7 {
		t.Fatalf("missed = %+v", missed)
	}
	e.publish(t, e.dev, 8, 1)
	if l := r.lines(1, missed[3].Seq); l[0].n() != 8 {
		t.Fatalf("live after resume = %+v", l)
	}

	// Another epoch: said so, with every retained line.
	x := e.dial(t, fmt.Sprintf("deviceId=%s&seq=%d&epoch=abc", e.dev, got[2].Seq), e.key)
	if x.hello.Recovered || x.hello.Reason != "epoch" || x.hello.LastSeq != 0 {
		t.Fatalf("epoch hello = %+v", x.hello)
	}
	if all := x.lines(8, 0); all[7].n() != 8 {
		t.Fatalf("lines = %+v", all)
	}
}

func TestResumeBeyondTheWindowReportsTheGap(t *testing.T) {
	e := newEnv(t, livews.Options{})
	e.publish(t, e.dev, 1, 2)
	c := e.dial(t, "deviceId="+e.dev+"&last=1", e.key)
	first := c.lines(1, c.hello.LastSeq)[0]
	c.ws.CloseNow()
	e.publish(t, e.dev, 3, 150) // the window keeps 100 lines per device
	r := e.dial(t, fmt.Sprintf("deviceId=%s&seq=%d&epoch=%s", e.dev, first.Seq, c.hello.Epoch), e.key)
	h := r.hello
	if h.Recovered || h.Reason != "window" || h.Gap == nil || h.Gap.AfterSeq != first.Seq {
		t.Fatalf("hello = %+v gap %+v", h, h.Gap)
	}
	lines := r.lines(100, h.LastSeq)
	if lines[0].Seq != h.Gap.BeforeSeq || lines[0].n() != 53 || lines[99].n() != 152 {
		t.Fatalf("first %+v last %+v", lines[0], lines[99])
	}
}

func TestRefusalsBeforeUpgrade(t *testing.T) {
	e := newEnv(t, livews.Options{Origins: []string{"https://console.example.com"}})
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	dev := "deviceId=" + e.dev
	cases := []struct {
		name  string
		query string
		h     http.Header
		want  int
	}{
		{"no token", dev, nil, 401},
		{"bad token", dev, bearer("lpk_nope"), 401},
		{"basic auth", dev, http.Header{"Authorization": {"Basic eDp5"}}, 401},
		{"token in query", dev + "&token=" + e.key, nil, 400},
		{"access_token in query", dev + "&access_token=" + e.key, bearer(e.key), 400},
		{"no device", "", bearer(e.key), 400},
		{"bad last", dev + "&last=x", bearer(e.key), 400},
		{"last too big", dev + "&last=1001", bearer(e.key), 400},
		{"seq without epoch", dev + "&seq=3", bearer(e.key), 400},
		{"last with seq", dev + "&seq=3&epoch=a&last=2", bearer(e.key), 400},
		{"bad epoch", dev + "&seq=3&epoch=A%22", bearer(e.key), 400},
		{"unknown device", "deviceId=0190a6f0-0000-7000-8000-000000000000", bearer(e.key), 404},
		{"another account's device", "deviceId=" + e.otherDev, bearer(e.key), 403},
		{"foreign origin", dev, http.Header{"Authorization": {"Bearer " + e.key}, "Origin": {"https://evil.example"}}, 403},
		{"listed origin", dev, http.Header{"Authorization": {"Bearer " + e.key}, "Origin": {"https://console.example.com"}}, 101},
		{"own device", dev, bearer(e.key), 101},
		{"relay token, any device", "deviceId=" + e.otherDev, bearer(relayToken), 101},
		{"subprotocols without ours", dev, http.Header{"Sec-WebSocket-Protocol": {"bearer." + e.key}}, 400},
	}
	for _, tc := range cases {
		if got := e.status(t, tc.query, tc.h); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	// Plain GET: not an upgrade.
	resp, err := http.Get("http" + strings.TrimPrefix(e.url, "ws") + "/ws?" + dev + "&x=1")
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != 401 {
		t.Errorf("plain GET without token: %v %v", resp, err)
	}
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(e.url, "ws")+"/ws?"+dev, nil)
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err = http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if err != nil || resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET with a token: %v %v, want 426", resp, err)
	}
}

// Browsers put the token in Sec-WebSocket-Protocol; the server selects
// liveplane.v1 and never echoes the token.
func TestSubprotocolToken(t *testing.T) {
	e := newEnv(t, livews.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, e.url+"/ws?deviceId="+e.dev, &websocket.DialOptions{
		Subprotocols: []string{livews.Subprotocol, "bearer." + e.key},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if ws.Subprotocol() != livews.Subprotocol || strings.Contains(resp.Header.Get("Sec-WebSocket-Protocol"), e.key) {
		t.Fatalf("selected %q, header %q", ws.Subprotocol(), resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	if _, b, err := ws.Read(ctx); err != nil || !strings.Contains(string(b), `"type":"hello"`) {
		t.Fatalf("hello: %s %v", b, err)
	}
	bad := e.status(t, "deviceId="+e.dev, http.Header{"Sec-WebSocket-Protocol": {livews.Subprotocol + ", bearer.lpk_wrong"}})
	if bad != 401 {
		t.Fatalf("bad subprotocol token: %d", bad)
	}
}

func TestClientMessagesCloseWithRFC6455Codes(t *testing.T) {
	e := newEnv(t, livews.Options{})
	cases := []struct {
		name string
		typ  websocket.MessageType
		data []byte
		want websocket.StatusCode
	}{
		{"binary", websocket.MessageBinary, []byte{1, 2}, websocket.StatusUnsupportedData},
		{"text", websocket.MessageText, []byte(`{"type":"subscribe"}`), websocket.StatusUnsupportedData},
		{"invalid utf-8", websocket.MessageText, []byte{'a', 0xff, 0xfe}, websocket.StatusInvalidFramePayloadData},
		{"oversized", websocket.MessageText, []byte(strings.Repeat("x", 5000)), websocket.StatusMessageTooBig},
	}
	for _, tc := range cases {
		c := e.dial(t, "deviceId="+e.dev, e.key)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := c.ws.Write(ctx, tc.typ, tc.data); err != nil {
			t.Fatalf("%s: write: %v", tc.name, err)
		}
		_, _, err := c.ws.Read(ctx)
		cancel()
		if got := websocket.CloseStatus(err); got != tc.want {
			t.Errorf("%s: closed with %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
	waitFor(t, "protocol closes counted", func() bool {
		return metric(t, e, "liveplane_ws_closed_total", "protocol") == 4
	})
}

// A subscriber that stops reading is closed, within LagTimeout + 1 s of its
// socket filling up, and the others get every line in order meanwhile.
func TestSlowSubscriberIsClosedAndDelaysNobody(t *testing.T) {
	e := newEnv(t, livews.Options{QueueFrames: 128, LagTimeout: 500 * time.Millisecond})
	slow := e.dial(t, "deviceId="+e.dev, e.key) // never reads again
	fast := e.dial(t, "deviceId="+e.dev, e.key)
	const n = 400
	got := make(chan error, 1)
	go func() {
		prev := fast.hello.LastSeq
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, b, err := fast.ws.Read(ctx)
			cancel()
			if err != nil {
				got <- fmt.Errorf("line %d: %w", i, err)
				return
			}
			var seq, p uint64
			if _, err := fmt.Sscanf(string(b[strings.Index(string(b), `"seq":`):]), `"seq":%d,"prev":%d`, &seq, &p); err != nil || p != prev {
				got <- fmt.Errorf("line %d: prev %d, want %d (%v)", i, p, prev, err)
				return
			}
			prev = seq
		}
		got <- nil
	}()
	big := strings.Repeat("x", 48<<10) // 400 x 48 KiB: more than the socket buffers hold
	for i := range n {
		e.live.Publish(e.dev, lineWith(e.dev, i, big))
		if i%100 == 99 { // stay under the publisher's per-device queue
			waitFor(t, "stored", func() bool {
				l, _, _ := e.window.Last(context.Background(), e.dev)
				return strings.Contains(string(l.Body), fmt.Sprintf("#%d\"", i))
			})
		}
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, "slow subscriber closed", func() bool { return e.srv.Subscribers() == 1 })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("slow subscriber closed %v after the fast one had everything", d)
	}
	if v := metric(t, e, "liveplane_ws_closed_total", "lagging"); v != 1 {
		t.Errorf("lagging closes = %v", v)
	}
	_ = slow
}

// Closed connections leave no goroutine behind, pings included.
func TestNoGoroutineLeak(t *testing.T) {
	e := newEnv(t, livews.Options{PingInterval: 250 * time.Millisecond})
	e.publish(t, e.dev, 1, 1)
	time.Sleep(100 * time.Millisecond)
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	var cs []*client
	for range 50 {
		c := e.dial(t, "deviceId="+e.dev+"&last=1", e.key)
		cs = append(cs, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for { // read (and so answer pings) until closed
				if _, _, err := c.ws.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	e.publish(t, e.dev, 2, 5)
	time.Sleep(800 * time.Millisecond) // several pings answered
	if n := e.srv.Subscribers(); n != 50 {
		t.Fatalf("%d subscribers left after pings, want 50", n)
	}
	for _, c := range cs {
		c.ws.Close(websocket.StatusNormalClosure, "")
	}
	wg.Wait()
	waitFor(t, "subscribers gone", func() bool { return e.srv.Subscribers() == 0 })
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= base+2 })
	if v := metric(t, e, "liveplane_ws_closed_total", "ping"); v != 0 {
		t.Fatalf("ping closes = %v", v)
	}
}

// A client that does not answer pings is dropped.
func TestUnansweredPingsDrop(t *testing.T) {
	e := newEnv(t, livews.Options{PingInterval: 100 * time.Millisecond})
	e.dial(t, "deviceId="+e.dev, e.key) // never reads: pongs are never sent
	waitFor(t, "silent client dropped", func() bool { return e.srv.Subscribers() == 0 })
	waitFor(t, "counted", func() bool { return metric(t, e, "liveplane_ws_closed_total", "ping") == 1 })
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	e := newEnv(t, livews.Options{})
	c := e.dial(t, "deviceId="+e.dev, e.key)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	read := make(chan error, 1)
	go func() { _, _, err := c.ws.Read(ctx); read <- err }()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	err := <-read
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("closed with %v", err)
	}
	if got := e.status(t, "deviceId="+e.dev, http.Header{"Authorization": {"Bearer " + e.key}}); got != 503 {
		t.Fatalf("after shutdown: %d", got)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s (goroutines %d)", what, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric reads a gauge or counter (with reason label, if given) from the registry.
func metric(t *testing.T, e *env, name, reason string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := reason == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					match = true
				}
			}
			if !match {
				continue
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s{reason=%q} not found", name, reason)
	return 0
}

func lineWith(dev string, i int, pad string) device.Line {
	return device.Line{DeviceID: dev, Timestamp: time.Now().UTC(), Type: "uplink",
		Message: fmt.Sprintf("Received uplink #%d", i), Data: map[string]any{"uplinkCount": i, "pad": pad}}
}

// The stream is recreated under a connected subscriber (an external NATS
// restarted): its next line comes from another epoch, so it is closed with
// 4009 and its resume says "epoch".
func TestNewEpochClosesWithResync(t *testing.T) {
	e := newEnv(t, livews.Options{})
	e.publish(t, e.dev, 1, 1)
	c := e.dial(t, "deviceId="+e.dev+"&last=1", e.key)
	first := c.lines(1, c.hello.LastSeq)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.js.DeleteStream(ctx, natsbus.LiveLogStream); err != nil {
		t.Fatal(err)
	}
	// The publisher recreates the stream; the feed notices the new epoch.
	done := make(chan error, 1)
	go func() { _, _, err := c.ws.Read(ctx); done <- err }()
	deadline := time.Now().Add(15 * time.Second)
	for i := 2; ; i++ {
		e.live.Publish(e.dev, lineWith(e.dev, i, ""))
		select {
		case err := <-done:
			if websocket.CloseStatus(err) != livews.CloseResync {
				t.Fatalf("closed with %v, want 4009", err)
			}
			r := e.dial(t, fmt.Sprintf("deviceId=%s&seq=%d&epoch=%s", e.dev, first.Seq, first.Epoch), e.key)
			if r.hello.Recovered || r.hello.Reason != "epoch" || r.hello.Epoch == first.Epoch {
				t.Fatalf("resume: %+v", r.hello)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("subscriber not told about the new epoch")
		}
	}
}
