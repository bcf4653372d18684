package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
)

// Workload is one member of the bench family: a kind of traffic against a
// liveplane server.
type Workload interface {
	Name() string
	// Help says what the workload measures and how to read its figures.
	// The first line is a one-line summary.
	Help() string
	// Flags registers the workload's own flags; the common ones are taken.
	Flags(fs *flag.FlagSet)
	// Run makes one measurement. Main repeats it for --runs.
	Run(ctx context.Context, env Env) (Result, error)
}

// OwnServer is implemented by workloads that start their own server (and
// more), so neither --server nor --spawn applies.
type OwnServer interface{ StartsOwnServer() }

// Env is what a workload gets from the common flags, already checked.
type Env struct {
	Load      Load
	ServerURL string       // base URL, no trailing slash
	Token     string       // bearer token; may be empty
	Server    *Server      // the spawned server; nil with --server
	Log       *slog.Logger // progress, to stderr
}

// Workloads returns the built-in workloads by name, fresh each call.
func Workloads() map[string]Workload {
	out := map[string]Workload{}
	for _, w := range []Workload{&CreateAccount{}, &Startup{}} {
		out[w.Name()] = w
	}
	return out
}

// Main runs "liveplane bench [WORKLOAD [flags]]": with no workload it lists
// them; otherwise it measures one and prints the result to stdout. Progress
// goes to stderr. Errors are one line, for main to print and exit non-zero.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, workloads map[string]Workload) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		return list(stdout, workloads)
	}
	name := args[0]
	w, ok := workloads[name]
	if !ok {
		return fmt.Errorf("bench: unknown workload %q (have: %s)", name, strings.Join(slices.Sorted(maps.Keys(workloads)), ", "))
	}

	fs := flag.NewFlagSet("liveplane bench "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned as one line, not printed with usage
	var c common
	_, c.ownServer = w.(OwnServer)
	c.register(fs)
	w.Flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return usage(stdout, w, fs)
		}
		return fmt.Errorf("bench %s: %w (see --help)", name, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench %s: unexpected argument %q (see --help)", name, fs.Arg(0))
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("bench %s: %w", name, err)
	}

	log := slog.New(slog.NewTextHandler(stderr, nil)).With("workload", name)
	if c.clientCPUList != nil {
		// As early as we can: the generator's threads stay off the server's cores.
		if err := PinSelf(c.clientCPUList); err != nil {
			return fmt.Errorf("bench %s: --client-cpus: %w", name, err)
		}
	}
	env := Env{Load: c.load(), ServerURL: strings.TrimRight(c.server, "/"), Token: c.token, Log: log}
	if c.spawn {
		srv, err := StartServer(ctx, ServerOptions{Binary: c.serverBin, Args: strings.Fields(c.serverArgs), CPUs: c.serverCPUList})
		if err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				log.Warn("stopping server", "err", err)
			}
		}()
		log.Info("server ready", "url", srv.URL(), "pid", srv.PID(), "cpus", c.serverCPUs)
		env.Server, env.ServerURL = srv, srv.URL()
		if env.Token == "" {
			if env.Token, err = srv.AdminToken(); err != nil {
				return fmt.Errorf("bench %s: %w", name, err)
			}
		}
	}

	res, err := Runs(ctx, c.runs, func(ctx context.Context, run int) (Result, error) {
		n := fmt.Sprintf("%d/%d", run, c.runs)
		log.Info("run starting", "run", n, "mode", modeOf(env.Load), "rate", c.rate, "duration", c.duration)
		r, err := w.Run(ctx, env)
		if err != nil {
			return r, err
		}
		if r.Workload == "" {
			r.Workload = name
		}
		if env.Server != nil {
			if rss, err := env.Server.RSS(); err == nil {
				r.Extra = withExtra(r.Extra, "server_rss_bytes", rss)
			}
		}
		log.Info("run done", "run", n, "achieved_rate", fmt.Sprintf("%.1f", r.AchievedRate),
			"ok", r.OK, "errors", r.Errors, "dropped", r.Dropped,
			"p50_ms", r.Latency.P50, "p99_ms", r.Latency.P99, "max_ms", r.Latency.Max)
		return r, nil
	})
	if err != nil {
		return fmt.Errorf("bench %s: %w", name, err)
	}
	res.Params = params(fs)
	res.Labels = c.resultLabels()
	return report(stdout, stderr, res, c.jsonPath)
}

func modeOf(l Load) Mode {
	if l.Rate > 0 {
		return OpenLoop
	}
	return ClosedLoop
}

func withExtra(m map[string]any, k string, v any) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m[k] = v
	return m
}

// report prints res for people and writes the JSON file. With --json - the
// JSON owns stdout and the human summary moves to stderr.
func report(stdout, stderr io.Writer, res Result, jsonPath string) error {
	human := stdout
	if jsonPath == "-" {
		human = stderr
	}
	if err := res.Print(human); err != nil {
		return fmt.Errorf("bench: print result: %w", err)
	}
	switch jsonPath {
	case "":
		return nil
	case "-":
		return res.WriteJSON(stdout)
	}
	f, err := os.Create(jsonPath)
	if err != nil {
		return fmt.Errorf("bench: --json: %w", err)
	}
	if err := res.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: --json: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("bench: --json: %w", err)
	}
	return nil
}

func list(w io.Writer, workloads map[string]Workload) error {
	fmt.Fprintln(w, "usage: liveplane bench WORKLOAD [flags]   (liveplane bench WORKLOAD --help for flags)")
	fmt.Fprintln(w, "\nworkloads:")
	for _, name := range slices.Sorted(maps.Keys(workloads)) {
		fmt.Fprintf(w, "\n  %s\n", name)
		for line := range strings.Lines(workloads[name].Help()) {
			fmt.Fprintf(w, "    %s", strings.TrimRight(line, "\n")+"\n")
		}
	}
	return nil
}

func usage(w io.Writer, wl Workload, fs *flag.FlagSet) error {
	fmt.Fprintf(w, "usage: %s [flags]\n\n%s\n\nflags:\n", fs.Name(), strings.TrimSpace(wl.Help()))
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return nil
}
