package bench

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// Startup measures a cold start: exec of `liveplane serve` on an empty data
// dir until GET /readyz answers 200, then the resident set after the
// server sat idle. Each op is a whole start, so the load flags do not apply;
// --runs repeats it and the medians are reported.
type Startup struct {
	cpus  string
	idle  time.Duration
	count int
}

func (s *Startup) Name() string { return "startup" }

func (s *Startup) Help() string {
	return `Cold start of serve: exec to /readyz 200, and idle RSS.
Each start uses a fresh data dir (SQLite file, embedded NATS store, admin
token all created), pinned to --cpus with GOMAXPROCS to match. The latency
figures are the time to ready; extra.idle_rss_* is VmRSS after --idle.
Needs --spawn (it starts its own servers; the spawned one is unused).
Targets (foundation issue): ready < 1 s, idle RSS < 40 MiB.`
}

func (s *Startup) Flags(fs *flag.FlagSet) {
	fs.StringVar(&s.cpus, "cpus", "0", "CPUs for each started server")
	fs.DurationVar(&s.idle, "idle", 5*time.Second, "how long the server idles before RSS is read")
	fs.IntVar(&s.count, "starts", 5, "cold starts per run")
}

func (s *Startup) Run(ctx context.Context, env Env) (Result, error) {
	cpus, err := ParseCPUs(s.cpus)
	if err != nil {
		return Result{}, fmt.Errorf("--cpus: %w", err)
	}
	h := newHistogram()
	var rss []float64
	begin := time.Now()
	for i := 0; i < s.count; i++ {
		t0 := time.Now()
		srv, err := StartServer(ctx, ServerOptions{CPUs: cpus, Args: []string{"--coaps", "127.0.0.1:0", "--pickup", "127.0.0.1:0"}})
		if err != nil {
			return Result{}, err
		}
		ready := time.Since(t0)
		recordLatency(h, ready)
		select {
		case <-time.After(s.idle):
		case <-ctx.Done():
		}
		if v, err := srv.RSS(); err == nil {
			rss = append(rss, float64(v)/(1<<20))
		}
		if err := srv.Stop(); err != nil {
			return Result{}, err
		}
		env.Log.Info("cold start", "ready", ready.Round(time.Microsecond), "idle_rss_mib", fmt.Sprintf("%.1f", rss[len(rss)-1]))
	}
	r := Result{
		Workload: s.Name(), Mode: ClosedLoop, Start: begin, Concurrency: 1,
		DurationSec: time.Since(begin).Seconds(), ElapsedSec: time.Since(begin).Seconds(),
		OK: int64(s.count), Latency: summarise(h),
		Extra: map[string]any{"idle_rss_mib_median": MedianOf(rss), "idle_rss_mib_max": maxOf(rss), "idle_seconds": s.idle.Seconds()},
	}
	return r, nil
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
