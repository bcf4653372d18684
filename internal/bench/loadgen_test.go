package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func nop(context.Context, int64) error { return nil }

// countAtLeast returns how many recorded latencies are >= d.
func countAtLeast(t *testing.T, r Result, d time.Duration) int64 {
	t.Helper()
	h, err := r.LatencyHistogram()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, bar := range h.Distribution() {
		if bar.From >= d.Microseconds() {
			n += bar.Count
		}
	}
	return n
}

// stallOnce returns an op that sleeps 50ms on operation 500 and is instant
// otherwise: a server stall in miniature.
func stallOnce() Op {
	return func(ctx context.Context, i int64) error {
		if i == 500 {
			time.Sleep(50 * time.Millisecond)
		}
		return nil
	}
}

func TestOpenLoopCountsStalls(t *testing.T) {
	// One slot, 1000/s: while op 500 sleeps 50ms, ops 501..549 fall due and
	// wait for the slot. Measured from their intended times, ~40 of them
	// take >= 10ms. A generator with coordinated omission would show one.
	res, err := Run(context.Background(), Load{Rate: 1000, Duration: time.Second, MaxInFlight: 1}, stallOnce())
	if err != nil {
		t.Fatal(err)
	}
	if slow := countAtLeast(t, res, 10*time.Millisecond); slow < 30 {
		t.Errorf("%d latencies >= 10ms, want >= 30: the stall was not charged to requests scheduled during it", slow)
	}
	if res.OK != 1000 || res.Errors != 0 || res.Dropped != 0 || res.Latency.Count != 1000 {
		t.Errorf("ok=%d errors=%d dropped=%d count=%d, want 1000/0/0/1000", res.OK, res.Errors, res.Dropped, res.Latency.Count)
	}
	if res.AchievedRate < 700 || res.AchievedRate > 1300 {
		t.Errorf("achieved %.1f ops/s, want about 1000", res.AchievedRate)
	}
	if res.Latency.Max < 45 {
		t.Errorf("max latency %.3f ms, want >= 45", res.Latency.Max)
	}
}

func TestClosedLoopHidesStalls(t *testing.T) {
	// The contrast, and why closed-loop latency is not quoted: one worker
	// just waits out the stall, so only the stalled op looks slow.
	res, err := Run(context.Background(), Load{Concurrency: 1, Duration: 300 * time.Millisecond}, stallOnce())
	if err != nil {
		t.Fatal(err)
	}
	if res.Mode != ClosedLoop || res.IntendedRate != 0 || res.DispatchLag != nil {
		t.Errorf("mode %q rate %v lag %v, want closed loop without rate or lag", res.Mode, res.IntendedRate, res.DispatchLag)
	}
	if slow := countAtLeast(t, res, 10*time.Millisecond); slow > 5 {
		t.Errorf("%d latencies >= 10ms in closed loop, want ~1", slow)
	}
}

func TestOpenLoopRateAndWarmup(t *testing.T) {
	var calls atomic.Int64
	op := func(context.Context, int64) error { calls.Add(1); return nil }
	res, err := Run(context.Background(), Load{Rate: 2000, Duration: time.Second, Warmup: 200 * time.Millisecond}, op)
	if err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 2400 {
		t.Errorf("op called %d times, want 2400 (warm-up included)", got)
	}
	if res.OK != 2000 || res.Latency.Count != 2000 {
		t.Errorf("recorded ok=%d count=%d, want 2000: warm-up must not be recorded", res.OK, res.Latency.Count)
	}
	if res.AchievedRate < 1600 || res.AchievedRate > 2400 {
		t.Errorf("achieved %.1f ops/s, want 2000 ± 20%%", res.AchievedRate)
	}
	if res.ElapsedSec < 0.9 || res.ElapsedSec > 1.5 {
		t.Errorf("elapsed %.3fs, want about 1s", res.ElapsedSec)
	}
	if res.Mode != OpenLoop || res.IntendedRate != 2000 || res.DispatchLag == nil {
		t.Errorf("mode %q rate %v lag %v", res.Mode, res.IntendedRate, res.DispatchLag)
	}
}

func TestOpenLoopBoundsInFlightAndDrops(t *testing.T) {
	// Capacity 5 slots × 100/s = 500/s against 2000/s intended: the backlog
	// cannot clear within the drain, so the rest is cancelled or dropped,
	// and every scheduled op is still accounted for.
	var inFlight, peak atomic.Int64
	op := func(ctx context.Context, i int64) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		select {
		case <-time.After(10 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	load := Load{Rate: 2000, Duration: 300 * time.Millisecond, MaxInFlight: 5, Drain: 100 * time.Millisecond}
	res, err := Run(context.Background(), load, op)
	if err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 5 {
		t.Errorf("peak in flight %d, want <= 5", p)
	}
	if res.Dropped == 0 {
		t.Error("no drops although the backlog could not clear")
	}
	if total := res.OK + res.Errors + res.Dropped; total != 600 || res.Latency.Count != 600 {
		t.Errorf("ok+errors+dropped = %d, histogram %d; want 600 each", total, res.Latency.Count)
	}
	if res.AchievedRate > 700 {
		t.Errorf("achieved %.1f ops/s exceeds capacity 500", res.AchievedRate)
	}
}

func TestErrorsCountedByText(t *testing.T) {
	op := func(_ context.Context, i int64) error {
		switch {
		case i%2 == 0:
			return nil
		case i%4 == 1:
			return errors.New("unavailable")
		default:
			return fmt.Errorf("conflict: name b%d taken", i) // unique texts
		}
	}
	res, err := Run(context.Background(), Load{Concurrency: 2, Duration: 100 * time.Millisecond}, op)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.OK == 0 {
		t.Fatalf("ok=%d errors=%d", res.OK, res.Errors)
	}
	if len(res.ErrorSamples) > keepErrorSamples {
		t.Errorf("%d samples kept, want <= %d", len(res.ErrorSamples), keepErrorSamples)
	}
	var sum int64
	var sawUnavailable bool
	for _, e := range res.ErrorSamples {
		sum += e.Count
		sawUnavailable = sawUnavailable || e.Error == "unavailable"
	}
	if !sawUnavailable || sum > res.Errors {
		t.Errorf("samples %+v for %d errors", res.ErrorSamples, res.Errors)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := Run(ctx, Load{Rate: 100, Duration: time.Minute}, nop)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Run took %v to notice cancellation", d)
	}
}

func TestLoadValidate(t *testing.T) {
	for _, l := range []Load{
		{Rate: -1, Duration: time.Second},
		{Rate: 10},
		{Rate: 10, Duration: time.Second, Warmup: -1},
		{Rate: 10, Duration: time.Second, MaxInFlight: -1},
		{Rate: 0.5, Duration: time.Second},
		{Rate: 0, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), l, nop); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", l)
		}
	}
}
