package bench

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// common holds the flags every workload shares.
type common struct {
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	maxInFlight int
	runs        int
	jsonPath    string
	server      string
	spawn       bool
	serverBin   string
	serverArgs  string
	serverCPUs  string
	clientCPUs  string
	token       string
	labels      labelFlag
	ownServer   bool // the workload starts its own server (OwnServer)

	// Parsed by validate.
	serverCPUList, clientCPUList []int
}

func (c *common) register(fs *flag.FlagSet) {
	fs.Float64Var(&c.rate, "rate", 100, "intended `ops/s` (open loop); 0 = closed loop with --concurrency workers")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured period of each run")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unrecorded warm-up before each run, same load shape")
	fs.IntVar(&c.concurrency, "concurrency", 16, "closed-loop workers (used when --rate=0)")
	fs.IntVar(&c.maxInFlight, "max-inflight", DefaultMaxInFlight, "open loop: most requests outstanding; waits for a slot count as latency")
	fs.IntVar(&c.runs, "runs", 1, "repeat the measurement `N` times and report the median of each figure")
	fs.StringVar(&c.jsonPath, "json", "", "also write the result as JSON to `FILE` (- for stdout)")
	fs.StringVar(&c.server, "server", "", "base `URL` of a running server to measure")
	fs.BoolVar(&c.spawn, "spawn", false, "start a server for the measurement (this binary's serve command) and stop it after")
	fs.StringVar(&c.serverBin, "server-bin", "", "with --spawn: server `binary` (default: this executable)")
	fs.StringVar(&c.serverArgs, "server-args", "", "with --spawn: extra serve flags, space-separated, e.g. \"--database=postgres://...\"")
	fs.StringVar(&c.serverCPUs, "server-cpus", "0", "with --spawn: pin the server to these `CPUs` (e.g. 0,2-3)")
	fs.StringVar(&c.clientCPUs, "client-cpus", "1", "pin this process (the load generator) to these `CPUs`; \"\" or none: do not pin")
	fs.StringVar(&c.token, "token", "", "bearer token (default $LIVEPLANE_TOKEN; with --spawn, the server's admin token)")
	fs.Var(&c.labels, "label", "extra result label `key=value` (repeatable), e.g. engine=postgres")
}

// validate checks the flags together and parses the CPU lists; its errors
// name the flag at fault.
func (c *common) validate() error {
	switch {
	case c.rate < 0:
		return fmt.Errorf("--rate must be >= 0, got %v", c.rate)
	case c.duration <= 0:
		return fmt.Errorf("--duration must be > 0, got %v", c.duration)
	case c.warmup < 0:
		return fmt.Errorf("--warmup must be >= 0, got %v", c.warmup)
	case c.rate > 0 && c.maxInFlight < 1:
		return fmt.Errorf("--max-inflight must be >= 1, got %d", c.maxInFlight)
	case c.rate == 0 && c.concurrency < 1:
		return fmt.Errorf("--concurrency must be >= 1 for a closed loop (--rate=0), got %d", c.concurrency)
	case c.runs < 1:
		return fmt.Errorf("--runs must be >= 1, got %d", c.runs)
	case c.ownServer && (c.server != "" || c.spawn):
		return errors.New("--server and --spawn do not apply: this workload starts its own server")
	case c.ownServer:
	case c.server != "" && c.spawn:
		return errors.New("--server and --spawn are exclusive: measure a running server or start one")
	case c.server == "" && !c.spawn:
		return errors.New("need --server URL (a running server) or --spawn (start one)")
	case !c.spawn && (c.serverBin != "" || c.serverArgs != ""):
		return errors.New("--server-bin and --server-args need --spawn")
	}
	if c.token == "" {
		c.token = os.Getenv("LIVEPLANE_TOKEN")
	}
	if err := c.load().Validate(); err != nil {
		return err // what the checks above do not cover, e.g. --rate × --duration < 1 op
	}
	var err error
	if c.spawn {
		if c.serverCPUList, err = ParseCPUs(c.serverCPUs); err != nil {
			return fmt.Errorf("--server-cpus: %w", err)
		}
	}
	if c.clientCPUs != "" && c.clientCPUs != "none" {
		if c.clientCPUList, err = ParseCPUs(c.clientCPUs); err != nil {
			return fmt.Errorf("--client-cpus: %w", err)
		}
	}
	return nil
}

func (c *common) load() Load {
	return Load{Rate: c.rate, Duration: c.duration, Warmup: c.warmup, MaxInFlight: c.maxInFlight, Concurrency: c.concurrency}
}

// params records every flag's value, so a result says how it was made.
// Results get shared, so the token is left out and passwords in database
// URLs are masked.
func params(fs *flag.FlagSet) map[string]string {
	out := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "token" {
			out[f.Name] = redact(f.Value.String())
		}
	})
	return out
}

var (
	urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)
	kvPassword  = regexp.MustCompile(`(password=)\S+`)
)

func redact(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}REDACTED@")
	return kvPassword.ReplaceAllString(s, "${1}REDACTED")
}

// labels describes the setting of a measurement: where, on what, against
// which engine. The engine is a guess from --server-args when we spawned the
// server; --label engine=... overrides it, as it does any label.
func (c *common) resultLabels() map[string]string {
	l := map[string]string{
		"go":          runtime.Version(),
		"os_arch":     runtime.GOOS + "/" + runtime.GOARCH,
		"cpus":        strconv.Itoa(runtime.NumCPU()),
		"client_cpus": "none",
	}
	if c.clientCPUList != nil {
		l["client_cpus"] = FormatCPUs(c.clientCPUList)
	}
	if host, err := os.Hostname(); err == nil {
		l["host"] = host
	}
	if c.spawn {
		l["server"] = "spawned"
		l["server_cpus"] = FormatCPUs(c.serverCPUList)
		l["engine"] = "sqlite"
		if strings.Contains(c.serverArgs, "postgres") {
			l["engine"] = "postgres"
		}
	} else {
		l["server"] = redact(c.server)
	}
	maps.Copy(l, c.labels)
	return l
}

// labelFlag collects repeated --label key=value flags.
type labelFlag map[string]string

func (l *labelFlag) String() string {
	var parts []string
	for k, v := range *l {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (l *labelFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if *l == nil {
		*l = labelFlag{}
	}
	(*l)[k] = v
	return nil
}
