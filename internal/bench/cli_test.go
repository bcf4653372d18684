package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// ping is a test workload: GET /readyz on the server under test.
type ping struct{ path string }

func (*ping) Name() string             { return "ping" }
func (*ping) Help() string             { return "GET a path on the server.\nFor tests." }
func (p *ping) Flags(fs *flag.FlagSet) { fs.StringVar(&p.path, "path", "/readyz", "path to GET") }
func (p *ping) Run(ctx context.Context, env Env) (Result, error) {
	hc := NewHTTPClient(env.Load.MaxInFlight)
	return Run(ctx, env.Load, func(ctx context.Context, i int64) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.ServerURL+p.path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func testWorkloads() map[string]Workload {
	return map[string]Workload{"ping": &ping{}, "create-account": &CreateAccount{}}
}

func runMain(args ...string) (stdout, stderr string, err error) {
	var out, errw bytes.Buffer
	err = Main(context.Background(), args, &out, &errw, testWorkloads())
	return out.String(), errw.String(), err
}

func TestMainListsWorkloads(t *testing.T) {
	out, _, err := runMain()
	if err != nil || !strings.Contains(out, "create-account") || !strings.Contains(out, "ratio_to_baseline") ||
		!strings.Contains(out, "ping") || !strings.Contains(out, "For tests.") {
		t.Errorf("list: %v\n%s", err, out)
	}
	out, _, err = runMain("ping", "--help")
	if err != nil || !strings.Contains(out, "-max-inflight") || !strings.Contains(out, "-path") {
		t.Errorf("help: %v\n%s", err, out)
	}
}

func TestMainFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown workload "nope" (have: create-account, ping)`},
		{[]string{"ping", "--rate=abc"}, `invalid value "abc" for flag -rate`},
		{[]string{"ping", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"ping", "--spawn", "extra"}, `unexpected argument "extra"`},
		{[]string{"ping", "--spawn", "--rate=-1"}, "--rate must be >= 0"},
		{[]string{"ping", "--spawn", "--rate=0", "--concurrency=0"}, "--concurrency must be >= 1"},
		{[]string{"ping", "--spawn", "--duration=0s"}, "--duration must be > 0"},
		{[]string{"ping", "--spawn", "--runs=0"}, "--runs must be >= 1"},
		{[]string{"ping", "--spawn", "--rate=1", "--duration=100ms"}, "at least one operation"},
		{[]string{"ping"}, "need --server URL"},
		{[]string{"ping", "--spawn", "--server=http://x"}, "exclusive"},
		{[]string{"ping", "--server=http://x", "--server-args=--x"}, "need --spawn"},
		{[]string{"ping", "--spawn", "--server-cpus=0-x"}, "--server-cpus: cpu list"},
		{[]string{"ping", "--server=http://x", "--client-cpus=9999"}, "--client-cpus: cpu list"},
		{[]string{"ping", "--server=http://x", "--label=novalue"}, "want key=value"},
	} {
		_, _, err := runMain(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v; want one line containing %q", tc.args, err, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	in := "--database=postgres://bench:hunter2@db:5432/lp --dsn password=hunter2 --x"
	if got := redact(in); strings.Contains(got, "hunter2") || !strings.Contains(got, "postgres://bench:REDACTED@db") {
		t.Errorf("redact = %q", got)
	}
}
