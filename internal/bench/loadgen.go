package bench

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// job is one scheduled request: its number and when it should have been sent.
type job struct {
	i  int64
	at time.Time
}

// runOpen issues request i at start + i/Rate, whatever happened to earlier
// requests, and measures each from that intended time to its completion.
//
// One dispatcher (this goroutine) keeps the schedule and hands jobs to
// MaxInFlight workers over an unbuffered channel: a send completes only when
// a worker is free, so the pool bounds in-flight work without a goroutine per
// request. When every worker is busy the dispatcher blocks, the requests due
// meanwhile go out late, and their latency includes the lateness. That is
// the point: a server stall delays everything scheduled during it, and the
// histogram shows it, instead of one slow sample (coordinated omission).
func runOpen(ctx context.Context, load Load, op Op) (Result, error) {
	interval := float64(time.Second) / load.Rate
	offset := func(i int64) time.Duration { return time.Duration(float64(i) * interval) }
	nWarm := int64(load.Warmup.Seconds() * load.Rate)
	nTotal := nWarm + int64(load.Duration.Seconds()*load.Rate)

	opCtx, cancelOps := context.WithCancel(ctx)
	defer cancelOps()
	rec := newRecorder()
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := range load.MaxInFlight {
		wg.Go(func() {
			for j := range jobs {
				err := op(opCtx, j.i)
				if j.i >= nWarm {
					done := time.Now()
					rec.record(w, done.Sub(j.at), done, err)
				}
			}
		})
	}

	wt := newWaiter()
	defer wt.close()
	lag := newHistogram() // dispatcher-only, so unlocked
	start := time.Now()
	// The drain deadline both stops the dispatcher waiting for a slot and
	// cancels operations still running.
	deadline := time.AfterFunc(offset(nTotal)+load.Drain, cancelOps)
	defer deadline.Stop()

	var i int64
dispatch:
	for ; i < nTotal; i++ {
		j := job{i: i, at: start.Add(offset(i))}
		if d := time.Until(j.at); d > 0 {
			// Let the workers just handed jobs run before parking. Parked
			// on the timerfd with runnable workers, the dispatcher was
			// measured delaying their start by up to milliseconds on one
			// core; with the yield a no-op's latency at 50k/s stays ~20µs.
			runtime.Gosched()
			if wt.wait(opCtx, time.Until(j.at)) != nil {
				break
			}
		}
		select {
		case jobs <- j:
		default: // every worker busy: wait for one, the wait counts as latency
			select {
			case jobs <- j:
			case <-opCtx.Done():
				break dispatch
			}
		}
		if i >= nWarm {
			recordLatency(lag, time.Since(j.at))
		}
	}
	close(jobs)
	if ctx.Err() == nil {
		// Stopped by the drain deadline: the rest were never sent. Count
		// them with the wait they had already suffered, a lower bound.
		stopped := time.Now()
		for k := max(i, nWarm); k < nTotal; k++ {
			rec.recordDropped(stopped.Sub(start.Add(offset(k))))
		}
	}
	wg.Wait()

	t := rec.totals()
	res := newResult(load, OpenLoop, start, start.Add(offset(nWarm)), t)
	res.IntendedRate = load.Rate
	res.Concurrency = load.MaxInFlight
	dl := summarise(lag)
	res.DispatchLag = &dl
	return res, ctx.Err()
}

// runClosed runs Concurrency workers, each issuing its next operation as soon
// as the previous one finishes, until the measured period ends. Latency is
// measured from the actual send, so it says nothing about stalls: use it
// for capacity (achieved rate), and open loop for latency.
func runClosed(ctx context.Context, load Load, op Op) (Result, error) {
	opCtx, cancelOps := context.WithCancel(ctx)
	defer cancelOps()
	rec := newRecorder()
	start := time.Now()
	measured := start.Add(load.Warmup)
	end := measured.Add(load.Duration)
	deadline := time.AfterFunc(load.Warmup+load.Duration+load.Drain, cancelOps)
	defer deadline.Stop()

	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for w := range load.Concurrency {
		wg.Go(func() {
			for opCtx.Err() == nil {
				sent := time.Now()
				if !sent.Before(end) {
					return
				}
				err := op(opCtx, next.Add(1)-1)
				if !sent.Before(measured) {
					done := time.Now()
					rec.record(w, done.Sub(sent), done, err)
				}
			}
		})
	}
	wg.Wait()

	res := newResult(load, ClosedLoop, start, measured, rec.totals())
	res.Concurrency = load.Concurrency
	return res, ctx.Err()
}

// newResult fills the figures both modes share. The measured period runs
// from measured to the last completion, so requests still in flight when the
// schedule ends are inside it and slow tails lower the achieved rate.
func newResult(load Load, mode Mode, start, measured time.Time, t tally) Result {
	last := t.last
	if last.Before(measured) {
		last = time.Now()
	}
	elapsed := last.Sub(measured)
	r := Result{
		Mode:        mode,
		Start:       start.UTC().Truncate(time.Second),
		WarmupSec:   load.Warmup.Seconds(),
		DurationSec: load.Duration.Seconds(),
		ElapsedSec:  elapsed.Seconds(),
		OK:          t.ok,
		Errors:      t.errs,
		Dropped:     t.dropped,
		Latency:     summarise(t.hist),
	}
	if elapsed > 0 {
		r.AchievedRate = float64(t.ok) / elapsed.Seconds()
	}
	r.ErrorSamples = topErrors(t.errCounts, keepErrorSamples)
	r.setHistogram(t.hist)
	return r
}
