package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// Runs measures n times and returns the median of each figure, with every
// run in Runs. Machines are noisy, so we quote medians: one run with a GC
// pause or a noisy neighbour should not move the headline. measure is
// called with run = 1..n; the first error stops the series.
func Runs(ctx context.Context, n int, measure func(ctx context.Context, run int) (Result, error)) (Result, error) {
	if n < 1 {
		return Result{}, fmt.Errorf("bench: runs must be >= 1, got %d", n)
	}
	runs := make([]Result, 0, n)
	for run := 1; run <= n; run++ {
		r, err := measure(ctx, run)
		if err != nil {
			return Result{}, fmt.Errorf("bench: run %d/%d: %w", run, n, err)
		}
		runs = append(runs, r)
	}
	if n == 1 {
		return runs[0], nil
	}
	return Median(runs), nil
}

// Median combines runs figure by figure: each number is the median of that
// number across runs (so the figures of the result may come from different
// runs). Descriptive fields come from the first run, error samples are
// summed, and Runs holds the inputs. Extra is combined the same way, leaf by
// leaf, after a JSON round trip; non-numeric leaves come from the first run.
func Median(runs []Result) Result {
	if len(runs) == 0 {
		return Result{}
	}
	out := runs[0]
	out.Runs = slices.Clone(runs)
	out.Histogram = "" // per-run histograms are in Runs; a median has none
	pick := func(f func(Result) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return MedianOf(xs)
	}
	count := func(f func(Result) int64) int64 {
		return int64(math.Round(pick(func(r Result) float64 { return float64(f(r)) })))
	}
	out.ElapsedSec = pick(func(r Result) float64 { return r.ElapsedSec })
	out.AchievedRate = pick(func(r Result) float64 { return r.AchievedRate })
	out.OK = count(func(r Result) int64 { return r.OK })
	out.Errors = count(func(r Result) int64 { return r.Errors })
	out.Dropped = count(func(r Result) int64 { return r.Dropped })
	out.Latency = medianLatency(runs, func(r Result) *Latency { return &r.Latency })
	if runs[0].DispatchLag != nil {
		l := medianLatency(runs, func(r Result) *Latency { return r.DispatchLag })
		out.DispatchLag = &l
	}

	errs := map[string]int64{}
	for _, r := range runs {
		for _, e := range r.ErrorSamples {
			errs[e.Error] += e.Count
		}
	}
	out.ErrorSamples = topErrors(errs, keepErrorSamples)

	extras := make([]any, len(runs))
	for i, r := range runs {
		extras[i] = plain(r.Extra)
	}
	if m, ok := medianPlain(extras).(map[string]any); ok && len(m) > 0 {
		out.Extra = m
	}
	return out
}

func medianLatency(runs []Result, get func(Result) *Latency) Latency {
	field := func(f func(*Latency) float64) float64 {
		var xs []float64
		for _, r := range runs {
			if l := get(r); l != nil {
				xs = append(xs, f(l))
			}
		}
		return MedianOf(xs)
	}
	return Latency{
		Count: int64(math.Round(field(func(l *Latency) float64 { return float64(l.Count) }))),
		P50:   field(func(l *Latency) float64 { return l.P50 }),
		P90:   field(func(l *Latency) float64 { return l.P90 }),
		P99:   field(func(l *Latency) float64 { return l.P99 }),
		P999:  field(func(l *Latency) float64 { return l.P999 }),
		Max:   field(func(l *Latency) float64 { return l.Max }),
		Mean:  field(func(l *Latency) float64 { return l.Mean }),
	}
}

// medianPlain takes the median of every numeric leaf present in any of vs
// (plain values from the same workload). Other leaves come from the first
// value that has them.
func medianPlain(vs []any) any {
	var nums []float64
	var objs []map[string]any
	var first any
	for _, v := range vs {
		switch v := v.(type) {
		case float64:
			nums = append(nums, v)
		case map[string]any:
			objs = append(objs, v)
		}
		if first == nil {
			first = v
		}
	}
	switch {
	case len(nums) > 0:
		return MedianOf(nums)
	case len(objs) > 0:
		out := map[string]any{}
		for _, m := range objs {
			for k := range m {
				if _, done := out[k]; done {
					continue
				}
				sub := make([]any, 0, len(objs))
				for _, m2 := range objs {
					if v, ok := m2[k]; ok {
						sub = append(sub, v)
					}
				}
				out[k] = medianPlain(sub)
			}
		}
		return out
	default:
		return first
	}
}

// MedianOf returns the median of xs (the mean of the middle two for an
// even count), or 0 for none. xs is not modified.
func MedianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}
