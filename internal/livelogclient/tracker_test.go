package livelogclient

import (
	"testing"
	"time"
)

func ln(epoch string, seq, prev uint64) *Line { return &Line{Epoch: epoch, Seq: seq, Prev: prev} }

func TestTrackerInOrderDedupeAndOrderGap(t *testing.T) {
	var tr tracker
	if g := tr.hello(Hello{Epoch: "e1", Recovered: true, LastSeq: 10}); g != nil {
		t.Fatalf("fresh hello reported a gap: %+v", g)
	}
	for _, c := range []struct {
		l       *Line
		deliver bool
		gap     string
	}{
		{ln("e1", 12, 10), true, ""},
		{ln("e1", 15, 12), true, ""},
		{ln("e1", 15, 12), false, ""}, // duplicate
		{ln("e1", 12, 10), false, ""}, // older duplicate
		{ln("e1", 20, 17), true, ReasonOrder},
		{ln("e1", 21, 20), true, ""},
	} {
		ok, g := tr.line(c.l)
		if ok != c.deliver {
			t.Fatalf("line %d: delivered %v, want %v", c.l.Seq, ok, c.deliver)
		}
		if (g != nil) != (c.gap != "") || g != nil && g.Reason != c.gap {
			t.Fatalf("line %d: gap %+v, want %q", c.l.Seq, g, c.gap)
		}
		if g != nil && (g.Span.AfterSeq != 15 || g.Span.BeforeSeq != 20) {
			t.Fatalf("order gap span %+v, want 15..20", g.Span)
		}
	}
	if tr.duplicates != 2 {
		t.Fatalf("duplicates %d, want 2", tr.duplicates)
	}
	if p, ok := tr.position(); !ok || p != (Position{"e1", 21}) {
		t.Fatalf("position %+v %v", p, ok)
	}
}

func TestTrackerResumeHellos(t *testing.T) {
	tr := tracker{epoch: "e1", expect: 21, last: 21, started: true}
	if g := tr.hello(Hello{Epoch: "e1", Recovered: true, LastSeq: 21}); g != nil {
		t.Fatalf("recovered resume reported %+v", g)
	}
	g := tr.hello(Hello{Epoch: "e1", Recovered: false, Reason: ReasonWindow, Gap: &GapSpan{21, 400}, LastSeq: 399})
	if g == nil || g.Reason != ReasonWindow || g.Span != (GapSpan{21, 400}) || g.FromSeq != 21 {
		t.Fatalf("window gap %+v", g)
	}
	if ok, g := tr.line(ln("e1", 400, 399)); !ok || g != nil {
		t.Fatalf("first line after a window hello: %v %+v", ok, g)
	}
	g = tr.hello(Hello{Epoch: "e2", Recovered: false, Reason: ReasonEpoch, LastSeq: 0})
	if g == nil || g.Reason != ReasonEpoch || g.PrevEpoch != "e1" || g.Epoch != "e2" {
		t.Fatalf("epoch gap %+v", g)
	}
	// Seqs restart in a new epoch: 3 is not a duplicate of 400.
	if ok, g := tr.line(ln("e2", 3, 0)); !ok || g != nil {
		t.Fatalf("first line of the new epoch: %v %+v", ok, g)
	}
	// A server that claims recovered across epochs is still reported.
	if g := tr.hello(Hello{Epoch: "e3", Recovered: true, LastSeq: 0}); g == nil || g.Reason != ReasonEpoch {
		t.Fatalf("recovered hello across epochs: %+v", g)
	}
}

func TestTrackerRelayGapFrame(t *testing.T) {
	var tr tracker
	tr.hello(Hello{Epoch: "e1", Recovered: true, LastSeq: 5})
	tr.line(ln("e1", 6, 5))
	g := tr.control(&Control{Type: "gap", Reason: ReasonEpoch, Epoch: "e2"})
	if g == nil || g.Epoch != "e2" {
		t.Fatalf("relay gap %+v", g)
	}
	// Announced: the next line (new epoch, prev 0) is not reported twice.
	if ok, g := tr.line(ln("e2", 2, 1)); !ok || g != nil {
		t.Fatalf("line after an announced gap: %v %+v", ok, g)
	}
	if tr.control(&Control{Type: "reconnecting"}) != nil {
		t.Fatal("a reconnecting notice is not a gap")
	}
	// An unannounced epoch switch mid-stream is a gap.
	if ok, g := tr.line(ln("e3", 9, 8)); !ok || g == nil || g.Reason != ReasonEpoch {
		t.Fatalf("silent epoch switch: %v %+v", ok, g)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for n, w := range want {
		if got := b.Ceiling(n); got != w*time.Millisecond {
			t.Fatalf("ceiling(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if b.Ceiling(1000) != time.Second {
		t.Fatal("ceiling overflowed")
	}
	b.Rand = func() float64 { return 0.5 }
	if d := b.Delay(2); d != 200*time.Millisecond {
		t.Fatalf("delay(2) at 0.5 = %v", d)
	}
	b.Rand = nil
	seen := map[time.Duration]bool{}
	for range 200 {
		d := b.Delay(3)
		if d < 0 || d >= 800*time.Millisecond {
			t.Fatalf("delay %v outside [0, 800ms)", d)
		}
		seen[d/(100*time.Millisecond)] = true
	}
	if len(seen) < 6 {
		t.Fatalf("delays not spread over the range: %v", seen)
	}
	if (Backoff{}).Ceiling(0) != 100*time.Millisecond || (Backoff{}).Ceiling(99) != 10*time.Second {
		t.Fatal("defaults")
	}
}

func TestDecode(t *testing.T) {
	l, h, c, err := decode([]byte(`{"deviceId":"d","timestamp":"2026-11-23T14:50:01.123456789Z","type":"uplink","message":"m","data":{"a":1},"seq":7,"prev":3,"epoch":"e"}`))
	if err != nil || h != nil || c != nil || l.Seq != 7 || l.Prev != 3 || l.Timestamp.Nanosecond() != 123456789 || string(l.Data) != `{"a":1}` {
		t.Fatalf("line: %+v %v", l, err)
	}
	_, h, _, err = decode([]byte(`{"type":"hello","deviceId":"d","epoch":"e","recovered":false,"reason":"window","gap":{"afterSeq":1,"beforeSeq":9},"lastSeq":8}`))
	if err != nil || h == nil || h.Recovered || h.Gap.BeforeSeq != 9 || h.LastSeq != 8 {
		t.Fatalf("hello: %+v %v", h, err)
	}
	_, _, c, err = decode([]byte(`{"type":"reconnecting","deviceId":"d","attempt":2,"delayMs":150,"error":"x"}`))
	if err != nil || c == nil || c.Attempt != 2 || c.DelayMS != 150 {
		t.Fatalf("control: %+v %v", c, err)
	}
	for _, bad := range []string{``, `[]`, `{}`, `{"type":"hello"}`, `{"seq":3,"prev":3}`, `{"seq":-1}`, `{"type":"uplink","seq":"x"}`} {
		if _, _, _, err := decode([]byte(bad)); err == nil {
			t.Fatalf("decode(%q) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"deviceId":"d","type":"uplink","seq":7,"prev":3,"epoch":"e","timestamp":"2026-11-23T14:50:01Z"}`))
	f.Add([]byte(`{"type":"hello","epoch":"e","recovered":true,"lastSeq":4}`))
	f.Add([]byte(`{"type":"gap","reason":"epoch","epoch":"e2"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, h, c, err := decode(b)
		n := 0
		for _, set := range []bool{l != nil, h != nil, c != nil} {
			if set {
				n++
			}
		}
		if err == nil && n != 1 || err != nil && n != 0 {
			t.Fatalf("decode(%q): %d results, err %v", b, n, err)
		}
		if l != nil {
			var tr tracker
			tr.line(l)
			if l.Prev >= l.Seq {
				t.Fatalf("line with prev %d >= seq %d", l.Prev, l.Seq)
			}
		}
	})
}
