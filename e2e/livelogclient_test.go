package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/livelogclient"
)

// livelogclient against the real /ws: while it cannot reconnect, more
// lines arrive than serve's window keeps; on resume the gap is reported
// explicitly (reason window, with its span), then the retained lines and
// the live tail follow in order.
func TestLiveLogClientReportsAWindowGap(t *testing.T) {
	httpAddr, coapAddr := freeAddr(t), freeUDP(t)
	s := startServe(t, "", nil, "--http", httpAddr, "--coap", coapAddr, "--livelog-window-lines", "5")
	key, dev := s.accountWithDevice(t, "gap-viewers")
	proxy := newCutProxy(t, httpAddr)
	up := newUplinker(t, coapAddr, dev)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	c, err := livelogclient.New(livelogclient.Options{URL: "http://" + proxy.addr(), DeviceID: dev.GetDevice().GetId(),
		Token: key, Backoff: livelogclient.Backoff{Base: 20 * time.Millisecond, Max: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan livelogclient.Event, 1000)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(ev livelogclient.Event) error { events <- ev; return nil }) }()
	next := func(kind livelogclient.Kind) livelogclient.Event {
		t.Helper()
		for {
			select {
			case ev := <-events:
				if ev.Kind == kind {
					return ev
				}
				if ev.Kind != livelogclient.KindReconnecting && ev.Kind != livelogclient.KindLive {
					t.Fatalf("got %v %+v while waiting for %v", ev.Kind, ev, kind)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %v event", kind)
			}
		}
	}
	send := func(n int) {
		t.Helper()
		for range n {
			if _, err := up.send(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	next(livelogclient.KindLive)
	send(3)
	var last *livelogclient.Line
	for i := 1; i <= 3; i++ {
		last = next(livelogclient.KindLine).Line
	}

	proxy.pause(true)
	proxy.drop()
	next(livelogclient.KindReconnecting)
	send(20) // the window keeps uplinks 19..23
	proxy.pause(false)

	g := next(livelogclient.KindGap).Gap
	if g.Reason != livelogclient.ReasonWindow || g.Span.AfterSeq != last.Seq || g.Span.BeforeSeq == 0 {
		t.Fatalf("gap %+v, want reason window after seq %d", g, last.Seq)
	}
	next(livelogclient.KindLive)
	prev := uint64(0)
	for n := 19; n <= 23; n++ {
		l := next(livelogclient.KindLine).Line
		if l.Message != fmt.Sprintf("Received uplink #%d", n) || (prev != 0 && l.Prev != prev) {
			t.Fatalf("after the gap: %q prev %d (previous seq %d), want uplink #%d", l.Message, l.Prev, prev, n)
		}
		if n == 19 && l.Seq != g.Span.BeforeSeq {
			t.Fatalf("first retained line seq %d, gap says before %d", l.Seq, g.Span.BeforeSeq)
		}
		prev = l.Seq
	}
	send(1)
	if l := next(livelogclient.KindLine).Line; l.Message != "Received uplink #24" || l.Prev != prev {
		t.Fatalf("live tail %+v", l)
	}
	if c.Duplicates() != 0 {
		t.Errorf("%d duplicates", c.Duplicates())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
