package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResultJSONRoundTrip(t *testing.T) {
	res, err := Run(context.Background(), Load{Rate: 500, Duration: 100 * time.Millisecond}, nop)
	if err != nil {
		t.Fatal(err)
	}
	res.Workload = "noop"
	res.Params = map[string]string{"rate": "500"}
	res.Labels = map[string]string{"engine": "sqlite"}
	res.ErrorSamples = []ErrorSample{{Error: "unavailable", Count: 3}}
	res.Extra = map[string]any{"baseline": res.Summary(), "ratio": 0.5}
	res.Runs = []Result{{Workload: "noop", OK: 1}}

	var buf bytes.Buffer
	if err := res.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	// Extra comes back as plain JSON values; everything else exactly.
	want := res
	want.Extra = plain(res.Extra).(map[string]any)
	if !back.Start.Equal(want.Start) {
		t.Errorf("start %v, want %v", back.Start, want.Start)
	}
	back.Start, want.Start = time.Time{}, time.Time{}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("round trip changed the result:\n got %+v\nwant %+v", back, want)
	}
	h, err := back.LatencyHistogram()
	if err != nil || h.TotalCount() != res.Latency.Count {
		t.Errorf("histogram after round trip: %v, count %v, want %d", err, h, res.Latency.Count)
	}
	if !strings.Contains(buf.String(), `"start": "`+res.Start.Format(time.RFC3339)[:19]) {
		t.Errorf("start is not RFC 3339 in %s", buf.String()[:200])
	}
}

func TestMedianOf(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 5, 1, 100, 5}, 5},
	} {
		if got := MedianOf(tc.in); got != tc.want {
			t.Errorf("MedianOf(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMedian(t *testing.T) {
	run := func(rate float64, ok int64, p99 float64, ratio float64, basis string) Result {
		return Result{
			Workload: "w", Mode: OpenLoop, IntendedRate: 100, AchievedRate: rate, OK: ok,
			Latency:      Latency{Count: ok, P50: p99 / 2, P99: p99},
			ErrorSamples: []ErrorSample{{Error: "x", Count: 1}},
			Extra: map[string]any{
				"ratio": ratio, "basis": basis,
				"baseline": Summary{AchievedRate: rate * 2, Latency: Latency{P99: p99 * 2}},
			},
		}
	}
	runs := []Result{run(90, 900, 5, 0.3, "a"), run(100, 1000, 1, 0.1, "b"), run(110, 800, 3, 0.2, "c")}
	m := Median(runs)
	if m.AchievedRate != 100 || m.OK != 900 || m.Latency.P99 != 3 || m.Latency.P50 != 1.5 || m.Latency.Count != 900 {
		t.Errorf("median rate %v ok %v p99 %v p50 %v count %v; want 100 900 3 1.5 900",
			m.AchievedRate, m.OK, m.Latency.P99, m.Latency.P50, m.Latency.Count)
	}
	if m.Workload != "w" || m.IntendedRate != 100 || len(m.Runs) != 3 || m.Runs[0].AchievedRate != 90 {
		t.Errorf("descriptive fields or runs lost: %+v", m)
	}
	if len(m.ErrorSamples) != 1 || m.ErrorSamples[0].Count != 3 {
		t.Errorf("error samples %+v, want x×3", m.ErrorSamples)
	}
	if m.Extra["ratio"] != 0.2 || m.Extra["basis"] != "a" {
		t.Errorf("extra ratio %v basis %v, want 0.2 and the first run's a", m.Extra["ratio"], m.Extra["basis"])
	}
	base := m.Extra["baseline"].(map[string]any)
	if base["achieved_rate"] != 200.0 || base["latency"].(map[string]any)["p99_ms"] != 6.0 {
		t.Errorf("nested extra %v, want achieved_rate 200 and p99 6", base)
	}

	even := Median(runs[:2])
	if even.AchievedRate != 95 || even.OK != 950 {
		t.Errorf("even median rate %v ok %v, want 95 950", even.AchievedRate, even.OK)
	}
}

func TestRunsRepeats(t *testing.T) {
	calls := 0
	res, err := Runs(context.Background(), 3, func(_ context.Context, run int) (Result, error) {
		calls++
		return Result{AchievedRate: float64(run * 10)}, nil
	})
	if err != nil || calls != 3 || res.AchievedRate != 20 || len(res.Runs) != 3 {
		t.Errorf("Runs: err %v calls %d rate %v runs %d; want nil 3 20 3", err, calls, res.AchievedRate, len(res.Runs))
	}
	if _, err := Runs(context.Background(), 0, nil); err == nil {
		t.Error("Runs(0) succeeded")
	}
}

func TestPrint(t *testing.T) {
	res := Result{
		Workload: "create-account", Mode: OpenLoop, IntendedRate: 100, AchievedRate: 99.5, OK: 995,
		Latency: Latency{Count: 995, P50: 1.25, P99: 4}, DispatchLag: &Latency{P99: 0.03},
		Labels: map[string]string{"engine": "sqlite"},
		Extra:  map[string]any{"ratio_to_baseline": 3.5, "baseline": Summary{OK: 7}},
		Runs:   []Result{{}, {}},
	}
	var buf bytes.Buffer
	if err := res.Print(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"create-account (open-loop, median of 2 runs)", "achieved_rate", "99.5 ops/s", "latency_p50",
		"1.250 ms", "labels", "engine=sqlite", "extra.ratio_to_baseline", "3.500", "extra.baseline.ok", "run.2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
