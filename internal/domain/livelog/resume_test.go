package livelog_test

import (
	"context"
	"testing"

	"github.com/liveplane/liveplane/internal/domain/livelog"
)

// window is an in-memory Window: the rule under test is pure, the real
// stream is exercised by natsbus's tests.
type window struct {
	epoch string
	lines []livelog.Entry // one device, seq ascending
}

func (w *window) Epoch(context.Context) (string, error) { return w.epoch, nil }
func (w *window) Last(_ context.Context, _ string) (livelog.Entry, bool, error) {
	if len(w.lines) == 0 {
		return livelog.Entry{}, false, nil
	}
	return w.lines[len(w.lines)-1], true, nil
}
func (w *window) Get(_ context.Context, _ string, seq uint64) (livelog.Entry, bool, error) {
	for _, e := range w.lines {
		if e.Seq == seq {
			return e, true, nil
		}
	}
	return livelog.Entry{}, false, nil
}
func (w *window) Next(_ context.Context, _ string, from uint64) (livelog.Entry, bool, error) {
	for _, e := range w.lines {
		if e.Seq >= from {
			return e, true, nil
		}
	}
	return livelog.Entry{}, false, nil
}

// chain builds retained lines with the given seqs, each prev the one before
// (the first one's prev given).
func chain(firstPrev uint64, seqs ...uint64) []livelog.Entry {
	out := make([]livelog.Entry, len(seqs))
	prev := firstPrev
	for i, s := range seqs {
		out[i] = livelog.Entry{DeviceID: "d", Seq: s, Prev: prev, Epoch: "e1"}
		prev = s
	}
	return out
}

func TestOpen(t *testing.T) {
	full := chain(0, 3, 7, 8, 12)  // nothing ever expired
	trimmed := chain(7, 8, 12, 20) // 3 and 7 left the window
	cases := []struct {
		name      string
		lines     []livelog.Entry
		req       livelog.Request
		recovered bool
		reason    string
		gap       *livelog.Gap
		lastSeq   uint64
		seqs      []uint64
	}{
		{"live only", full, livelog.Request{}, true, "", nil, 12, nil},
		{"last 2", full, livelog.Request{Last: 2}, true, "", nil, 7, []uint64{8, 12}},
		{"last more than retained", trimmed, livelog.Request{Last: 10}, true, "", nil, 7, []uint64{8, 12, 20}},
		{"live only, empty", nil, livelog.Request{}, true, "", nil, 0, nil},
		{"resume, missed two", full, livelog.Request{Resume: true, Seq: 7, Epoch: "e1"}, true, "", nil, 7, []uint64{8, 12}},
		{"resume at head", full, livelog.Request{Resume: true, Seq: 12, Epoch: "e1"}, true, "", nil, 12, nil},
		{"resume from zero", full, livelog.Request{Resume: true, Seq: 0, Epoch: "e1"}, true, "", nil, 0, []uint64{3, 7, 8, 12}},
		{"resume, first after is the next", trimmed, livelog.Request{Resume: true, Seq: 7, Epoch: "e1"}, true, "", nil, 7, []uint64{8, 12, 20}},
		{"resume into the trimmed part", trimmed, livelog.Request{Resume: true, Seq: 3, Epoch: "e1"}, false, livelog.ReasonWindow,
			&livelog.Gap{AfterSeq: 3, BeforeSeq: 8}, 7, []uint64{8, 12, 20}},
		{"resume from zero, trimmed", trimmed, livelog.Request{Resume: true, Seq: 0, Epoch: "e1"}, false, livelog.ReasonWindow,
			&livelog.Gap{AfterSeq: 0, BeforeSeq: 8}, 7, []uint64{8, 12, 20}},
		{"resume, everything expired", nil, livelog.Request{Resume: true, Seq: 12, Epoch: "e1"}, false, livelog.ReasonWindow,
			&livelog.Gap{AfterSeq: 12}, 12, nil},
		{"resume beyond the head", full, livelog.Request{Resume: true, Seq: 99, Epoch: "e1"}, false, livelog.ReasonWindow,
			&livelog.Gap{AfterSeq: 99}, 12, nil},
		{"other epoch", full, livelog.Request{Resume: true, Seq: 7, Epoch: "e0"}, false, livelog.ReasonEpoch, nil, 0, []uint64{3, 7, 8, 12}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, lines, err := livelog.Open(context.Background(), &window{epoch: "e1", lines: tc.lines}, "d", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if h.Epoch != "e1" || h.Recovered != tc.recovered || h.Reason != tc.reason || h.LastSeq != tc.lastSeq {
				t.Errorf("hello = %+v", h)
			}
			if (h.Gap == nil) != (tc.gap == nil) || h.Gap != nil && *h.Gap != *tc.gap {
				t.Errorf("gap = %+v, want %+v", h.Gap, tc.gap)
			}
			if len(lines) != len(tc.seqs) {
				t.Fatalf("%d lines, want %v", len(lines), tc.seqs)
			}
			for i, e := range lines {
				if e.Seq != tc.seqs[i] {
					t.Errorf("line %d: seq %d, want %d", i, e.Seq, tc.seqs[i])
				}
			}
		})
	}
}

func TestOpenCapsHistory(t *testing.T) {
	seqs := make([]uint64, livelog.MaxHistory+10)
	for i := range seqs {
		seqs[i] = uint64(i + 1)
	}
	w := &window{epoch: "e1", lines: chain(0, seqs...)}
	_, lines, err := livelog.Open(context.Background(), w, "d", livelog.Request{Resume: true, Seq: 0, Epoch: "e1"})
	if err != nil || len(lines) != livelog.MaxHistory || lines[0].Seq != 1 {
		t.Fatalf("%d lines, %v", len(lines), err)
	}
	_, lines, _ = livelog.Open(context.Background(), w, "d", livelog.Request{Last: 5000})
	if len(lines) != livelog.MaxHistory || lines[len(lines)-1].Seq != uint64(len(seqs)) {
		t.Fatalf("last: %d lines", len(lines))
	}
}

// racing is a window where the device's next line is stored during Open,
// right after Open's first call of the given method: the seam between the
// history and the live tail must neither send nor skip it (it reaches the
// subscriber live, with prev = hello.LastSeq).
type racing struct {
	window
	method string
	stored bool
}

func (r *racing) store() {
	if r.stored {
		return
	}
	r.stored = true
	prev := uint64(0)
	if n := len(r.lines); n > 0 {
		prev = r.lines[n-1].Seq
	}
	r.lines = append(r.lines, livelog.Entry{DeviceID: "d", Seq: prev + 1, Prev: prev, Epoch: "e1"})
}

func (r *racing) Last(ctx context.Context, d string) (livelog.Entry, bool, error) {
	e, ok, err := r.window.Last(ctx, d)
	if r.method == "Last" {
		r.store()
	}
	return e, ok, err
}

func (r *racing) Next(ctx context.Context, d string, from uint64) (livelog.Entry, bool, error) {
	e, ok, err := r.window.Next(ctx, d, from)
	if r.method == "Next" {
		r.store()
	}
	return e, ok, err
}

func TestOpenSeamWithALineStoredMeanwhile(t *testing.T) {
	cases := []struct {
		name, method string
		lines        []livelog.Entry
		req          livelog.Request
	}{
		// A reconnecting client at the head: the line lands after the
		// history read found nothing new.
		{"resume at head", "Next", chain(0, 3, 7, 8, 12), livelog.Request{Resume: true, Seq: 12, Epoch: "e1"}},
		// A device's first line, while a client asks for the last lines.
		{"last 5 of a new device", "Last", nil, livelog.Request{Last: 5}},
		{"live only", "Last", chain(0, 3), livelog.Request{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := &racing{window: window{epoch: "e1", lines: tc.lines}, method: tc.method}
			h, lines, err := livelog.Open(context.Background(), w, "d", tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if !w.stored {
				t.Fatal("no line was stored during Open")
			}
			stored := w.lines[len(w.lines)-1]
			sent := false
			for _, e := range lines {
				sent = sent || e.Seq == stored.Seq
			}
			// Either the history has it, or the live tail continues from
			// just before it (the hub forwards seq > LastSeq with prev ==
			// LastSeq).
			if !sent && h.LastSeq != stored.Prev {
				t.Fatalf("line %d neither sent nor followed: hello.LastSeq = %d, history %v", stored.Seq, h.LastSeq, lines)
			}
		})
	}
}
