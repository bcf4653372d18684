package bench

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkGeneratorOverhead measures the generator's own ceiling: the
// schedule is far ahead of what any machine can issue (1e9/s), so it runs
// flat out driving a no-op. Run it on one core to get the per-core figure:
//
//	taskset -c 1 go test -run '^$' -bench GeneratorOverhead -cpu 1 ./internal/bench/
func BenchmarkGeneratorOverhead(b *testing.B) {
	for _, inflight := range []int{1, 64, 1024} {
		b.Run("inflight="+strconv.Itoa(inflight), func(b *testing.B) {
			const rate = 1e9
			load := Load{Rate: rate, Duration: time.Duration(b.N), MaxInFlight: inflight, Drain: time.Hour}
			b.ResetTimer()
			res, err := Run(context.Background(), load, nop)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(res.OK)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// BenchmarkOpenLoop50k drives a no-op at 50,000/s for a second and reports
// how late the generator issued requests: the noise floor it adds to every
// latency it reports.
func BenchmarkOpenLoop50k(b *testing.B) {
	for range b.N {
		res, err := Run(context.Background(), Load{Rate: 50000, Duration: time.Second}, nop)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.AchievedRate, "ops/s")
		b.ReportMetric(res.DispatchLag.P50*1000, "lag-p50-µs")
		b.ReportMetric(res.DispatchLag.P99*1000, "lag-p99-µs")
		b.ReportMetric(res.Latency.P99*1000, "latency-p99-µs")
	}
}
