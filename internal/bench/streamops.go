package bench

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/livelogclient"
)

// rssSampler samples the servers' RSS every second.
type rssSampler struct {
	servers []*Server
	mu      sync.Mutex
	samples [][]int64 // per server
	stopc   chan struct{}
	done    chan struct{}
}

func newRSSSampler(servers ...*Server) *rssSampler {
	r := &rssSampler{stopc: make(chan struct{}), done: make(chan struct{})}
	for _, s := range servers {
		if s != nil {
			r.servers = append(r.servers, s)
		}
	}
	r.samples = make([][]int64, len(r.servers))
	go func() {
		defer close(r.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			r.sample()
			select {
			case <-r.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

func (r *rssSampler) sample() []int64 {
	out := make([]int64, len(r.servers))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.servers {
		if v, err := s.RSS(); err == nil {
			r.samples[i] = append(r.samples[i], v)
			out[i] = v
		}
	}
	return out
}

func (r *rssSampler) stop() {
	select {
	case <-r.stopc:
	default:
		close(r.stopc)
	}
	<-r.done
}

// report adds the first, last and peak RSS of each server to extra.
func (r *rssSampler) report(extra map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ss := range r.samples {
		if len(ss) == 0 {
			continue
		}
		name := "server"
		if i > 0 {
			name = "peer"
		}
		peak := ss[0]
		for _, v := range ss {
			peak = max(peak, v)
		}
		extra[name+"_rss_first_bytes"] = ss[0]
		extra[name+"_rss_last_bytes"] = ss[len(ss)-1]
		extra[name+"_rss_peak_bytes"] = peak
	}
}

// runIdle holds --subscribers idle subscribers for --duration and reports
// what each costs the server.
func (s *Stream) runIdle(ctx context.Context, env Env, subs *subFleet, url, path, key string, devs []string, rss *rssSampler, backoff livelogclient.Backoff) (Result, error) {
	if env.Server == nil {
		return Result{}, errors.New("idle needs --spawn: it reads the server's RSS")
	}
	time.Sleep(env.Load.Warmup)
	before := rss.sample()[0]
	t0 := time.Now()
	env.Log.Info("connecting idle subscribers", "n", s.subscribers)
	if err := subs.start(ctx, url, path, key, devs, s.subscribers, false, backoff); err != nil {
		return Result{}, err
	}
	connectSec := time.Since(t0).Seconds()
	time.Sleep(2 * time.Second) // let the server settle after the handshakes
	after := rss.sample()[0]
	held := time.Now()
	select {
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-time.After(env.Load.Duration):
	}
	end := rss.sample()[0]
	open := scrapeMetric(env.ServerURL, "liveplane_ws_subscribers")
	subs.stop()
	t := subs.tally(func(int) bool { return false }, 0)
	n := float64(s.subscribers)
	res := Result{Mode: OpenLoop, Start: t0.UTC().Truncate(time.Second), DurationSec: env.Load.Duration.Seconds(),
		ElapsedSec: time.Since(held).Seconds(), OK: int64(s.subscribers)}
	res.Extra = map[string]any{
		"subscribers":              s.subscribers,
		"connect_s":                connectSec,
		"rss_before_bytes":         before,
		"rss_connected_bytes":      after,
		"rss_end_bytes":            end,
		"rss_per_connection_bytes": float64(after-before) / n,
		"rss_growth_bytes":         end - after,
		"server_open_subscribers":  open,
		"subscriber_reconnects":    t.closes,
	}
	rss.report(res.Extra)
	return res, nil
}

// scrapeMetric reads one sample from base/metrics; -1 when absent.
func scrapeMetric(base, name string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// procCPUSeconds is a process's user+system CPU seconds from
// /proc/PID/stat; 0 when unknown (not Linux).
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}
