package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/livelogclient"
)

const (
	d1     = "0190a0b0-0000-7000-8000-000000000001"
	d2     = "0190a0b0-0000-7000-8000-000000000002"
	other  = "0190a0b0-0000-7000-8000-000000000003"
	denied = "0190a0b0-0000-7000-8000-000000000004"
)

// scripted is an Upstream the test drives: each Follow waits for its
// context and lets the test emit events.
type scripted struct {
	mu     sync.Mutex
	feeds  map[string]*follow
	opened chan *follow
}

type follow struct {
	device string
	start  Start
	fn     func(UpstreamEvent)
	ctx    context.Context
	fail   chan error
}

func newScripted() *scripted {
	return &scripted{feeds: map[string]*follow{}, opened: make(chan *follow, 16)}
}

func (s *scripted) Follow(ctx context.Context, device string, start Start, fn func(UpstreamEvent)) error {
	f := &follow{device: device, start: start, fn: fn, ctx: ctx, fail: make(chan error, 1)}
	s.mu.Lock()
	s.feeds[device] = f
	s.mu.Unlock()
	s.opened <- f
	select {
	case <-ctx.Done():
		return nil
	case err := <-f.fail:
		return err
	}
}

type keys map[string]domain.Code

func (k keys) Authorize(_ context.Context, c Credential, dev string) error {
	who := c.Bearer
	if c.Ticket != "" {
		who = "ticket:" + c.Ticket
	}
	code, ok := k[who+"/"+dev]
	if !ok {
		return domain.Errorf(domain.CodeUnauthenticated, "t", "no")
	}
	if code == "" {
		return nil
	}
	return domain.Errorf(code, "t", "no")
}

func line(dev, epoch string, seq, prev uint64) UpstreamEvent {
	raw := fmt.Appendf(nil, `{"deviceId":%q,"timestamp":"2026-11-23T14:50:01Z","type":"uplink","message":"m%d","seq":%d,"prev":%d,"epoch":%q}`, dev, seq, seq, prev, epoch)
	return UpstreamEvent{Kind: UpLine, Seq: seq, Prev: prev, Epoch: epoch, Raw: raw}
}

func newTestRelay(t *testing.T, opts Options) (*Relay, *scripted, string) {
	t.Helper()
	up := newScripted()
	auth := keys{"k1/" + d1: "", "k1/" + d2: "", "ticket:t1/" + d2: "", "k1/" + other: domain.CodeNotFound, "k1/" + denied: domain.CodePermissionDenied}
	if opts.Linger == 0 {
		opts.Linger = -1
	}
	r := New(up, auth, slog.New(slog.DiscardHandler), nil, opts)
	mux := http.NewServeMux()
	r.Handle(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnContext = r.ConnContext
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		r.Close()
	})
	return r, up, srv.URL
}

// browser follows through the relay the way a browser does (token in the
// subprotocol) and records what it sees.
type seen struct {
	mu     sync.Mutex
	events []livelogclient.Event
	ch     chan livelogclient.Event
}

func follower(t *testing.T, ctx context.Context, url, dev string, from *livelogclient.Position) (*seen, chan error) {
	c, err := livelogclient.New(livelogclient.Options{URL: url, Path: "/device-logs", DeviceID: dev, Token: "k1",
		TokenInProtocol: true, From: from, Backoff: livelogclient.Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	s := &seen{ch: make(chan livelogclient.Event, 10000)}
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ev livelogclient.Event) error { s.ch <- ev; return nil })
	}()
	return s, done
}

func next(t *testing.T, s *seen, kinds ...livelogclient.Kind) livelogclient.Event {
	t.Helper()
	select {
	case ev := <-s.ch:
		for _, k := range kinds {
			if ev.Kind == k {
				return ev
			}
		}
		t.Fatalf("got %v event %+v, want %v", ev.Kind, ev, kinds)
	case <-time.After(5 * time.Second):
		t.Fatalf("no event, want %v", kinds)
	}
	return livelogclient.Event{}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRelayFanOutNoticesAndRegistry(t *testing.T) {
	r, up, url := newTestRelay(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, aDone := follower(t, ctx, url, d1, nil)
	f := <-up.opened
	b, bDone := follower(t, ctx, url, d1, nil)
	waitFor(t, "two browsers pending", func() bool { f2 := r.feeds[d1]; f2.mu.Lock(); defer f2.mu.Unlock(); return len(f2.pending) == 2 })
	f.fn(UpstreamEvent{Kind: UpLive, Epoch: "e1", LastSeq: 7, Recovered: true})
	for _, s := range []*seen{a, b} {
		if h := next(t, s, livelogclient.KindLive).Hello; h.LastSeq != 7 || h.Epoch != "e1" || !h.Recovered {
			t.Fatalf("hello %+v", h)
		}
	}
	seq := uint64(7)
	for i := range 50 {
		f.fn(line(d1, "e1", seq+uint64(i%3)+1, seq))
		seq += uint64(i%3) + 1
	}
	f.fn(UpstreamEvent{Kind: UpReconnecting, Attempt: 1, Delay: 250 * time.Millisecond, Err: errors.New("boom")})
	f.fn(UpstreamEvent{Kind: UpLive, Epoch: "e1", LastSeq: seq, Recovered: true})
	f.fn(UpstreamEvent{Kind: UpGap, Epoch: "e1", Reason: "window", AfterSeq: seq, BeforeSeq: seq + 10})
	f.fn(line(d1, "e1", seq+10, seq+9))
	for _, s := range []*seen{a, b} {
		var last uint64 = 7
		for range 50 {
			l := next(t, s, livelogclient.KindLine).Line
			if l.Prev != last {
				t.Fatalf("line %d prev %d, want %d", l.Seq, l.Prev, last)
			}
			last = l.Seq
		}
		c := next(t, s, livelogclient.KindControl).Control
		if c.Type != "reconnecting" || c.Attempt != 1 || c.DelayMS != 250 || strings.Contains(c.Error, "boom") {
			t.Fatalf("reconnecting notice %+v", c)
		}
		if c := next(t, s, livelogclient.KindControl).Control; c.Type != "live" || c.LastSeq != seq {
			t.Fatalf("live notice %+v", c)
		}
		if g := next(t, s, livelogclient.KindGap).Gap; g.Reason != "window" || g.Span.BeforeSeq != seq+10 {
			t.Fatalf("gap %+v", g)
		}
		// The announced gap is not reported twice.
		if l := next(t, s, livelogclient.KindLine).Line; l.Seq != seq+10 {
			t.Fatalf("line after the gap %+v", l)
		}
	}
	if len(up.opened) != 0 || r.Devices() != 1 {
		t.Fatalf("upstreams opened %d more, devices %d: want one upstream per device", len(up.opened), r.Devices())
	}
	cancel()
	<-aDone
	<-bDone
	waitFor(t, "the registry entry to go", func() bool { return r.Devices() == 0 })
	select {
	case <-f.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream stayed open after the last browser left")
	}
}

func TestRelayResumeFromTheRing(t *testing.T) {
	_, up, url := newTestRelay(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keeper, _ := follower(t, ctx, url, d1, nil) // keeps the feed open
	f := <-up.opened
	f.fn(UpstreamEvent{Kind: UpLive, Epoch: "e1", LastSeq: 0, Recovered: true})
	next(t, keeper, livelogclient.KindLive)
	for s := uint64(1); s <= 5; s++ {
		f.fn(line(d1, "e1", s*2, (s-1)*2))
	}
	for range 5 {
		next(t, keeper, livelogclient.KindLine)
	}
	for _, c := range []struct {
		from      livelogclient.Position
		recovered bool
		first     uint64
	}{
		{livelogclient.Position{Epoch: "e1", Seq: 6}, true, 8},
		{livelogclient.Position{Epoch: "e1", Seq: 10}, true, 12},
		{livelogclient.Position{Epoch: "e0", Seq: 99}, false, 2},
		{livelogclient.Position{Epoch: "e1", Seq: 5}, false, 6},
	} {
		rctx, rcancel := context.WithCancel(ctx)
		s, done := follower(t, rctx, url, d1, &c.from)
		if c.recovered {
			if h := next(t, s, livelogclient.KindLive).Hello; !h.Recovered || h.LastSeq != c.from.Seq {
				t.Fatalf("resume %+v: hello %+v", c.from, h)
			}
		} else {
			next(t, s, livelogclient.KindGap)
			next(t, s, livelogclient.KindLive)
		}
		if c.first == 12 {
			f.fn(line(d1, "e1", 12, 10))
		}
		if l := next(t, s, livelogclient.KindLine).Line; l.Seq != c.first {
			t.Fatalf("resume %+v: first line %d, want %d", c.from, l.Seq, c.first)
		}
		rcancel()
		<-done
	}
}

func TestRelayClosesALaggingBrowser(t *testing.T) {
	r, up, url := newTestRelay(t, Options{Queue: 64})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	good, _ := follower(t, ctx, url, d1, nil)
	f := <-up.opened
	f.fn(UpstreamEvent{Kind: UpLive, Epoch: "e1", Recovered: true})
	next(t, good, livelogclient.KindLive)
	// A browser that never reads.
	h := http.Header{"Authorization": {"Bearer k1"}}
	slow, _, err := websocket.Dial(ctx, url+"/device-logs?deviceId="+d1, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	time.Sleep(50 * time.Millisecond)
	pad := strings.Repeat("x", 16<<10)
	start := time.Now()
	for s := uint64(1); s <= 2000; s++ {
		ev := line(d1, "e1", s, s-1)
		ev.Raw = append(ev.Raw[:len(ev.Raw)-1], []byte(`,"data":"`+pad+`"}`)...)
		f.fn(ev)
		if s%16 == 0 {
			for range 16 {
				next(t, good, livelogclient.KindLine)
			}
		}
	}
	// The slow one was closed as lagging: with 4008 when the close frame
	// fits in its socket, else by cutting the connection 2 s later (once
	// it reads, it sees the close, or the end of the stream).
	var code websocket.StatusCode = -1
	for {
		if _, _, err := slow.Read(ctx); err != nil {
			code = websocket.CloseStatus(err)
			break
		}
	}
	if code != 4008 && code != -1 {
		t.Fatalf("slow browser closed with %d, want 4008 (or cut)", code)
	}
	waitFor(t, "the lagging close to be counted", func() bool {
		return testutil.ToFloat64(r.m.closed.WithLabelValues("lagging")) == 1
	})
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %v", el)
	}
}

func TestRelayRefusals(t *testing.T) {
	_, _, url := newTestRelay(t, Options{Origins: []string{"https://console.example"}})
	ws := func(h http.Header) http.Header {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "websocket")
		h.Set("Sec-WebSocket-Version", "13")
		h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		return h
	}
	for _, c := range []struct {
		query  string
		header http.Header
		status int
	}{
		{"", ws(http.Header{"Authorization": {"Bearer k1"}}), 400},
		{"deviceId=" + d1 + "&token=k1", ws(http.Header{}), 400},
		{"deviceId=" + d1 + "&last=5&seq=1&epoch=e", ws(http.Header{"Authorization": {"Bearer k1"}}), 400},
		{"deviceId=" + d1 + "&seq=1", ws(http.Header{"Authorization": {"Bearer k1"}}), 400},
		{"deviceId=" + d1, ws(http.Header{"Authorization": {"Bearer k1"}, "Origin": {"https://evil.example"}}), 403},
		{"deviceId=" + d1, ws(http.Header{}), 401},
		{"deviceId=" + d1, ws(http.Header{"Authorization": {"Basic k1"}}), 401},
		{"deviceId=" + d1, ws(http.Header{"Authorization": {"Bearer nope"}}), 401},
		{"deviceId=" + d1, ws(http.Header{"Sec-Websocket-Protocol": {"liveplane.v1"}}), 401},
		{"deviceId=" + d1, ws(http.Header{"Sec-Websocket-Protocol": {"bearer.k1"}}), 400},
		{"deviceId=" + d1, ws(http.Header{"Cookie": {"liveplane_session=s"}}), 401},                     // a cookie is no credential here
		{"deviceId=" + d1, ws(http.Header{"Sec-Websocket-Protocol": {"liveplane.v1, ticket.t1"}}), 401}, // the ticket names d2
		{"deviceId=" + d1, ws(http.Header{"Sec-Websocket-Protocol": {"liveplane.v1, ticket.t2"}}), 401},
		{"deviceId=" + other, ws(http.Header{"Authorization": {"Bearer k1"}}), 404},
		{"deviceId=" + denied, ws(http.Header{"Authorization": {"Bearer k1"}}), 403},
		{"deviceId=" + d1, http.Header{"Authorization": {"Bearer k1"}}, 426},
	} {
		req, _ := http.NewRequest(http.MethodGet, url+"/device-logs?"+c.query, nil)
		req.Header = c.header
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%q %v: %d %s, want %d", c.query, c.header, res.StatusCode, body, c.status)
		}
	}
	// The allowed origin and the subprotocol credential get through.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, url+"/device-logs?deviceId="+d2, &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {"https://console.example"}}, Subprotocols: []string{"liveplane.v1", "bearer.k1"}})
	if err != nil {
		t.Fatalf("allowed browser refused: %v", err)
	}
	defer conn.CloseNow()
	if p := res.Header.Get("Sec-WebSocket-Protocol"); p != "liveplane.v1" {
		t.Fatalf("selected subprotocol %q: the token must never be echoed", p)
	}
	// So does a console ticket for its device.
	conn2, res, err := websocket.Dial(ctx, url+"/device-logs?deviceId="+d2, &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": {"https://console.example"}}, Subprotocols: []string{"liveplane.v1", "ticket.t1"}})
	if err != nil {
		t.Fatalf("console ticket refused: %v", err)
	}
	defer conn2.CloseNow()
	if p := res.Header.Get("Sec-WebSocket-Protocol"); p != "liveplane.v1" {
		t.Fatalf("selected subprotocol %q: the ticket must never be echoed", p)
	}
}

func TestGreet(t *testing.T) {
	r := newRing(3)
	for s := uint64(1); s <= 5; s++ {
		r.push(entry{seq: s * 10, prev: (s - 1) * 10, raw: []byte{byte(s)}})
	}
	// ring holds 30, 40, 50
	check := func(s Start, recovered bool, reason string, lastSeq uint64, n int) {
		t.Helper()
		h, hist := greet("d", "e", 50, &r, s)
		if h.Recovered != recovered || h.Reason != reason || h.LastSeq != lastSeq || len(hist) != n {
			b, _ := json.Marshal(h)
			t.Fatalf("greet(%+v) = %s + %d lines", s, b, len(hist))
		}
	}
	check(Start{}, true, "", 50, 0)
	check(Start{Last: 2}, true, "", 30, 2)
	check(Start{Last: 9}, true, "", 20, 3)
	check(Start{Epoch: "e", Seq: 20}, true, "", 20, 3)
	check(Start{Epoch: "e", Seq: 50}, true, "", 50, 0)
	check(Start{Epoch: "e", Seq: 10}, false, "window", 20, 3)
	check(Start{Epoch: "x", Seq: 10}, false, "epoch", 20, 3)
	check(Start{Epoch: "e", Seq: 35}, false, "window", 30, 2)
}

func FuzzHandshake(f *testing.F) {
	f.Add("deviceId=0190a0b0-0000-7000-8000-000000000001&seq=4&epoch=e", "Bearer k", "liveplane.v1, bearer.k", "https://a.example")
	f.Add("deviceId=0190a0b0-0000-7000-8000-000000000001&last=1001", "", "bearer.", "")
	f.Add("deviceId=%zz", "Bearer", ",,,", "::")
	f.Fuzz(func(t *testing.T, rawQuery, authz, protos, origin string) {
		req, err := http.NewRequest(http.MethodGet, "http://relay.test/device-logs", nil)
		if err != nil {
			t.Skip()
		}
		req.URL.RawQuery = rawQuery
		req.Header.Set("Authorization", authz)
		req.Header.Set("Sec-WebSocket-Protocol", protos)
		req.Header.Set("Origin", origin)
		q, err := parseQuery(req.URL.Query())
		if err == nil && (q.device == "" || q.start.Last > 1000 || q.start.Last < 0 || (q.start.Seq != 0 && q.start.Epoch == "")) {
			t.Fatalf("accepted %q as %+v", rawQuery, q)
		}
		cred, _, err := credential(req)
		if err == nil && (cred.Bearer == "") == (cred.Ticket == "") {
			t.Fatalf("no credential accepted: %q %q", authz, protos)
		}
		(&Relay{opts: Options{Origins: []string{"https://a.example"}}}).originAllowed(req)
	})
}

// Browsers that arrive together at a device with different positions (a
// relay restart, a storm) are all served: the upstream opens from the
// lowest, the others skip what they have.
func TestRelayGathersResumePositions(t *testing.T) {
	_, up, url := newTestRelay(t, Options{Gather: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, _ := follower(t, ctx, url, d1, &livelogclient.Position{Epoch: "e1", Seq: 4})
	b, _ := follower(t, ctx, url, d1, &livelogclient.Position{Epoch: "e1", Seq: 8})
	f := <-up.opened
	if f.start != (Start{Epoch: "e1", Seq: 4}) {
		t.Fatalf("upstream opened from %+v, want the lowest position e1/4", f.start)
	}
	f.fn(UpstreamEvent{Kind: UpLive, Epoch: "e1", LastSeq: 4, Recovered: true})
	f.fn(line(d1, "e1", 6, 4))
	f.fn(line(d1, "e1", 8, 6))
	f.fn(line(d1, "e1", 10, 8))
	if h := next(t, a, livelogclient.KindLive).Hello; !h.Recovered || h.LastSeq != 4 {
		t.Fatalf("a's hello %+v", h)
	}
	for _, want := range []uint64{6, 8, 10} {
		if l := next(t, a, livelogclient.KindLine).Line; l.Seq != want {
			t.Fatalf("a got %d, want %d", l.Seq, want)
		}
	}
	if h := next(t, b, livelogclient.KindLive).Hello; !h.Recovered || h.LastSeq != 8 {
		t.Fatalf("b's hello %+v", h)
	}
	if l := next(t, b, livelogclient.KindLine).Line; l.Seq != 10 {
		t.Fatalf("b got %d first, want 10 (it had 6 and 8)", l.Seq)
	}
}

// A browser that comes back within the linger period resumes from the
// relay's window, over the same upstream; after it, the entry goes.
func TestRelayLingerKeepsTheWindow(t *testing.T) {
	r, up, url := newTestRelay(t, Options{Linger: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	a, aDone := follower(t, ctx, url, d1, nil)
	f := <-up.opened
	f.fn(UpstreamEvent{Kind: UpLive, Epoch: "e1", LastSeq: 0, Recovered: true})
	next(t, a, livelogclient.KindLive)
	f.fn(line(d1, "e1", 1, 0))
	f.fn(line(d1, "e1", 2, 1))
	next(t, a, livelogclient.KindLine)
	next(t, a, livelogclient.KindLine)
	cancel()
	<-aDone
	f.fn(line(d1, "e1", 3, 2)) // while nobody watches
	ctx2, cancel2 := context.WithCancel(context.Background())
	b, bDone := follower(t, ctx2, url, d1, &livelogclient.Position{Epoch: "e1", Seq: 2})
	if h := next(t, b, livelogclient.KindLive).Hello; !h.Recovered {
		t.Fatalf("resume within the linger: %+v", h)
	}
	if l := next(t, b, livelogclient.KindLine).Line; l.Seq != 3 {
		t.Fatalf("got %d, want 3 from the window", l.Seq)
	}
	if len(up.opened) != 0 || r.Devices() != 1 {
		t.Fatal("a second upstream was opened")
	}
	cancel2()
	<-bDone
	waitFor(t, "the entry to go after the linger", func() bool { return r.Devices() == 0 })
	<-f.ctx.Done()
}

// Close says goodbye to every browser (1001) and leaves no goroutine of
// the relay behind.
func TestRelayCloseLeavesNothing(t *testing.T) {
	up := newScripted()
	r := New(up, keys{"k1/" + d1: "", "k1/" + d2: ""}, slog.New(slog.DiscardHandler), nil, Options{})
	mux := http.NewServeMux()
	r.Handle(mux)
	srv := httptest.NewServer(mux)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conns []*websocket.Conn
	for _, dev := range []string{d1, d1, d2} {
		c, _, err := websocket.Dial(ctx, srv.URL+"/device-logs?deviceId="+dev, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer k1"}}})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for range 2 {
		f := <-up.opened
		f.fn(UpstreamEvent{Kind: UpLive, Epoch: "e1", Recovered: true})
	}
	for _, c := range conns {
		if _, b, err := c.Read(ctx); err != nil || !strings.Contains(string(b), `"hello"`) {
			t.Fatalf("hello: %s %v", b, err)
		}
	}
	errs := make(chan error, len(conns))
	for _, c := range conns { // browsers read on, and answer the close
		go func() {
			_, _, err := c.Read(ctx)
			errs <- err
		}()
	}
	r.Close()
	for range conns {
		if err := <-errs; websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("after Close: %v, want 1001", err)
		}
	}
	srv.Close()
	waitFor(t, "the relay's goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		st := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(st, "drivers/relay.(*Relay)") && !strings.Contains(st, "drivers/relay.(*scripted)")
	})
}
