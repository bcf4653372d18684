package bench

import (
	"math"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: microsecond resolution from 1µs to 60s, 3 significant
// figures (a recorded value is within 0.1% of the truth). Slower operations
// are clamped to 60s rather than dropped, so they still count as slow.
const (
	histMin     = 1
	histMax     = int64(60 * time.Second / time.Microsecond)
	histSigFigs = 3
)

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histSigFigs)
}

func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	us = max(histMin, min(us, histMax))
	_ = h.RecordValue(us) // cannot fail: us is inside the bounds
}

// Latency summarises a latency distribution in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func summarise(h *hdrhistogram.Histogram) Latency {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Mean:  math.Round(h.Mean()) / 1000, // µs precision, like the rest
	}
}

// ErrorSample is one distinct error text and how often it was seen.
type ErrorSample struct {
	Error string `json:"error"`
	Count int64  `json:"count"`
}

const (
	keepErrorSamples = 5   // reported per result
	maxErrorKinds    = 100 // tracked per shard; beyond it texts pool under "other"
	maxErrorText     = 200
	otherErrors      = "(other errors)"
)

// recorder collects outcomes from many workers. Workers record into one of a
// few mutex-guarded shards instead of one histogram each: a histogram with
// these bounds is ~150 KB, too much to give each of a thousand workers, and
// a single lock would become the generator's bottleneck.
type recorder struct {
	shards []shard
}

type shard struct {
	mu      sync.Mutex
	hist    *hdrhistogram.Histogram
	ok      int64
	dropped int64
	last    time.Time // latest completion
	errs    map[string]int64
	_       [64]byte // keep neighbouring shards' locks off one cache line
}

func newRecorder() *recorder {
	r := &recorder{shards: make([]shard, runtime.GOMAXPROCS(0))}
	for i := range r.shards {
		r.shards[i].hist = newHistogram()
		r.shards[i].errs = map[string]int64{}
	}
	return r
}

// record notes one measured operation that took lat and finished at done.
func (r *recorder) record(worker int, lat time.Duration, done time.Time, err error) {
	s := &r.shards[worker%len(r.shards)]
	s.mu.Lock()
	defer s.mu.Unlock()
	recordLatency(s.hist, lat)
	if done.After(s.last) {
		s.last = done
	}
	if err == nil {
		s.ok++
		return
	}
	msg := errorText(err)
	if _, seen := s.errs[msg]; !seen && len(s.errs) >= maxErrorKinds {
		msg = otherErrors // unique texts (names, ids) must not grow memory without bound
	}
	s.errs[msg]++
}

// recordDropped counts an operation that was never issued; lat is how long
// it had already waited, a lower bound on what it would have taken.
func (r *recorder) recordDropped(lat time.Duration) {
	s := &r.shards[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	recordLatency(s.hist, lat)
	s.dropped++
}

func errorText(err error) string {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText] + "…"
	}
	return msg
}

// tally is what a recorder saw, merged across shards.
type tally struct {
	hist              *hdrhistogram.Histogram
	ok, errs, dropped int64
	errCounts         map[string]int64
	last              time.Time // latest completion; zero if nothing completed
}

// totals merges the shards. Call it only after every worker has stopped.
func (r *recorder) totals() tally {
	t := tally{hist: newHistogram(), errCounts: map[string]int64{}}
	for i := range r.shards {
		s := &r.shards[i]
		t.hist.Merge(s.hist)
		t.ok += s.ok
		t.dropped += s.dropped
		for msg, n := range s.errs {
			t.errCounts[msg] += n
			t.errs += n
		}
		if s.last.After(t.last) {
			t.last = s.last
		}
	}
	return t
}

// topErrors keeps the most frequent texts, ties broken by text so output is stable.
func topErrors(counts map[string]int64, keep int) []ErrorSample {
	out := make([]ErrorSample, 0, len(counts))
	for msg, n := range counts {
		out = append(out, ErrorSample{Error: msg, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Error < out[j].Error
	})
	if len(out) > keep {
		out = out[:keep]
	}
	return out
}
