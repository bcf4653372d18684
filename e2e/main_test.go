// Package e2e drives the real liveplane binary as a process: start-up with
// no flags, the CLI, the three RPC protocols, bad input, crash recovery.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "liveplane-e2e")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "liveplane")
	build := exec.Command("go", "build", "-o", binary, "../cmd/liveplane")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build liveplane: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// child is a liveplane process a test started (serve, relay, daemon): its
// stderr is kept for log() and scanned for the line naming where it serves.
type child struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	exited chan struct{}
}

func newChild(args ...string) *child {
	return &child{cmd: exec.Command(binary, args...), exited: make(chan struct{})}
}

// start starts c and registers cleanup (which stops it) before anything can
// fail. With serving set it waits up to 20 s for a stderr line matching it
// and returns the match's first group.
func (c *child) start(t *testing.T, what string, serving *regexp.Regexp, cleanup func()) string {
	t.Helper()
	pipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
			if serving == nil {
				continue
			}
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(cleanup)
	if serving == nil {
		return ""
	}
	select {
	case a := <-addr:
		return a
	case <-c.exited:
		t.Fatalf("%s exited before serving:\n%s", what, c.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start:\n%s", what, c.log())
	}
	return ""
}

func (c *child) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// server is a running `liveplane serve`.
type server struct {
	*child
	t       *testing.T
	dataDir string
	url     string
	token   string
}

var servingLine = regexp.MustCompile(`msg="liveplane serving" http=(\S+)`)

// startServe runs serve with a fresh (or given) data dir on a free port and
// waits until it logs that it serves.
func startServe(t *testing.T, dataDir string, env []string, args ...string) *server {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	// Every listener on a free port, so servers of parallel tests never collide.
	s := &server{t: t, dataDir: dataDir, child: newChild(append([]string{"serve", "--data-dir", dataDir, "--http", "127.0.0.1:0",
		"--pickup", "127.0.0.1:0", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0"}, args...)...)}
	s.cmd.Env = append(cleanEnv(), env...)
	s.url = "http://" + s.start(t, "serve", servingLine, func() {
		s.stop()
		if t.Failed() {
			t.Logf("serve %s (%s), last lines of its log:\n%s", s.url, s.cmd.ProcessState, tailLines(s.log(), 40))
		}
	})
	if b, err := os.ReadFile(filepath.Join(dataDir, "admin.token")); err == nil {
		s.token = strings.TrimSpace(string(b))
	}
	return s
}

// tailLines returns the last n lines of text.
func tailLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// stop sends SIGTERM and waits; it returns the exit code.
func (s *server) stop() int {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			s.t.Errorf("serve did not stop within 15s of SIGTERM")
		}
	}
	return s.cmd.ProcessState.ExitCode()
}

func (s *server) waitExit(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.exited:
	case <-time.After(d):
		t.Fatalf("serve still running after %s", d)
	}
}

func (s *server) accounts(opts ...connect.ClientOption) liveplanev1connect.AccountServiceClient {
	return liveplanev1connect.NewAccountServiceClient(http.DefaultClient, s.url, opts...)
}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LIVEPLANE_") {
			out = append(out, kv)
		}
	}
	return out
}

// cli runs a liveplane CLI command and returns stdout, stderr, exit code.
func cli(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(cleanEnv(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

func bearer(token string) connect.ClientOption {
	return connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("Authorization", "Bearer "+token)
			return next(ctx, req)
		}
	}))
}
