package livelog

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
)

// MaxHistory bounds the lines one request reads from the window.
const MaxHistory = 1000

// Reasons a Hello is not recovered.
const (
	ReasonEpoch  = "epoch"  // the client's epoch is not the current one
	ReasonWindow = "window" // lines after the client's seq have left the window
)

// Request is what a client asks for on connect: the last N lines (Last),
// or everything after (Seq, Epoch) when Resume is set.
type Request struct {
	Last   int
	Resume bool
	Seq    uint64
	Epoch  string
}

// Hello answers a Request; see docs/live-logs.md for each field.
type Hello struct {
	Epoch     string
	Recovered bool
	Reason    string
	Gap       *Gap
	LastSeq   uint64
}

// Gap says which lines may be lost: the device's lines with
// AfterSeq < seq < BeforeSeq (BeforeSeq 0 = up to now).
type Gap struct {
	AfterSeq  uint64
	BeforeSeq uint64
}

// Open reads the history a Request asks for, oldest first, with the Hello
// that goes before it. The caller registers its live subscription before
// calling Open, and after sending the history forwards only live lines with
// a seq greater than the last one sent (or Hello.LastSeq): that makes the
// seam between history and the live tail lossless and duplicate-free.
func Open(ctx context.Context, w Window, deviceID string, req Request) (Hello, []Entry, error) {
	const op = "livelog.Open"
	epoch, err := w.Epoch(ctx)
	if err != nil {
		return Hello{}, nil, domain.Wrap(op, err)
	}
	// The newest line is read before any history. When the history turns
	// out empty it anchors the live tail (hello.LastSeq), and every line
	// stored after this read reaches the subscriber live (it registered with
	// the hub before calling Open). Read after the history, a line stored in
	// between would be the anchor without ever being sent: the subscriber
	// would skip it silently.
	last, hasLast, err := w.Last(ctx, deviceID)
	if err != nil {
		return Hello{}, nil, domain.Wrap(op, err)
	}
	h := Hello{Epoch: epoch, Recovered: true}
	var lines []Entry
	switch {
	case !req.Resume:
		if hasLast {
			lines, err = lastN(ctx, w, deviceID, req.Last, last)
		}
	case req.Epoch != epoch:
		h.Recovered, h.Reason = false, ReasonEpoch
		lines, err = after(ctx, w, deviceID, 0)
	default:
		lines, err = after(ctx, w, deviceID, req.Seq)
		if err == nil {
			h.Recovered, err = continuous(ctx, w, deviceID, req.Seq, lines)
		}
		if err == nil && !h.Recovered {
			h.Reason = ReasonWindow
			h.Gap = &Gap{AfterSeq: req.Seq}
			if len(lines) > 0 {
				h.Gap.BeforeSeq = lines[0].Seq
			}
		}
	}
	if err != nil {
		return Hello{}, nil, domain.Wrap(op, err)
	}
	switch {
	case len(lines) > 0:
		h.LastSeq = lines[0].Prev
	case hasLast:
		h.LastSeq = last.Seq
	case req.Resume && req.Epoch == epoch:
		h.LastSeq = req.Seq // nothing retained: the client stays where it was
	}
	return h, lines, nil
}

// continuous reports whether lines (the retained lines after seq) follow
// seq without a hole.
func continuous(ctx context.Context, w Window, deviceID string, seq uint64, lines []Entry) (bool, error) {
	if len(lines) > 0 {
		return lines[0].Prev == seq, nil
	}
	if seq == 0 {
		return true, nil
	}
	_, ok, err := w.Get(ctx, deviceID, seq)
	return ok, err
}

// after returns the device's retained lines with seq > from, at most
// MaxHistory (the newest are dropped: the live tail follows them anyway,
// and a client that gets MaxHistory lines resumes from the last one).
func after(ctx context.Context, w Window, deviceID string, from uint64) ([]Entry, error) {
	var lines []Entry
	for len(lines) < MaxHistory {
		e, ok, err := w.Next(ctx, deviceID, from+1)
		if err != nil || !ok {
			return lines, err
		}
		lines = append(lines, e)
		from = e.Seq
	}
	return lines, nil
}

// lastN walks the prev chain back from the newest line e.
func lastN(ctx context.Context, w Window, deviceID string, n int, e Entry) ([]Entry, error) {
	n = min(n, MaxHistory)
	if n <= 0 {
		return nil, nil
	}
	var ok bool
	var err error
	lines := make([]Entry, 0, n)
	lines = append(lines, e)
	for len(lines) < n && e.Prev != 0 {
		if e, ok, err = w.Get(ctx, deviceID, e.Prev); err != nil {
			return nil, err
		} else if !ok {
			break
		}
		lines = append(lines, e)
	}
	for i, j := 0, len(lines)-1; i < j; i, j = i+1, j-1 {
		lines[i], lines[j] = lines[j], lines[i]
	}
	return lines, nil
}
