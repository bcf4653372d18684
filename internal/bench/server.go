package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServerOptions says how to start the server under test.
type ServerOptions struct {
	Binary  string   // default: this executable (liveplane itself)
	Args    []string // extra flags after the standard ones, e.g. "--database=postgres://..."
	CPUs    []int    // pin the server here, with GOMAXPROCS=len(CPUs); nil: unpinned
	DataDir string   // default: a fresh temporary directory, removed by Stop
	Stdout  io.Writer
	Stderr  io.Writer // the last few KB are also kept for error messages
	Env     []string  // added to this process's environment

	ReadyTimeout time.Duration // default 30s
	StopTimeout  time.Duration // SIGTERM grace before SIGKILL; default 10s
}

// Server is a running server under test. Stop it; it does not outlive ctx.
type Server struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	ownDir  bool
	stderr  *tail
	timeout time.Duration

	pickupAddr string // from the serving line; "" when unknown

	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done closes

	stopOnce sync.Once
	stopErr  error
}

// StartServer runs
//
//	BINARY serve --data-dir DIR --http 127.0.0.1:PORT --coap 127.0.0.1:0 --coaps 127.0.0.1:0 ARGS...
//
// on a free loopback port and returns once GET /readyz answers 200. If the
// server exits or is not ready in time, the error carries its stderr tail.
func StartServer(ctx context.Context, opts ServerOptions) (*Server, error) {
	bin := opts.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("start server: %w", err)
		}
		bin = exe
	}
	// The port may be taken again between Close and the server's bind; on
	// loopback with an ephemeral port that is rare, and it shows as a
	// clear startup failure rather than a wrong measurement.
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &Server{
		url:     "http://" + addr,
		dataDir: opts.DataDir,
		stderr:  &tail{max: 8 << 10},
		timeout: orDefault(opts.StopTimeout, 10*time.Second),
		done:    make(chan struct{}),
	}
	if s.dataDir == "" {
		if s.dataDir, err = os.MkdirTemp("", "liveplane-bench-"); err != nil {
			return nil, fmt.Errorf("start server: %w", err)
		}
		s.ownDir = true
	}

	args := []string{"serve", "--data-dir", s.dataDir, "--http", addr, "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0"}
	if !hasFlag(opts.Args, "pickup") {
		// A free port, so that several spawned servers (and other tests)
		// never fight over the default 3100; PickupAddr reports it.
		args = append(args, "--pickup", "127.0.0.1:0")
	}
	args = append(args, opts.Args...)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(os.Environ(), opts.Env...)
	s.cmd.Stdout = opts.Stdout
	s.cmd.Stderr = s.stderr
	if opts.Stderr != nil {
		s.cmd.Stderr = io.MultiWriter(s.stderr, opts.Stderr)
	}
	s.cmd.WaitDelay = time.Second // a grandchild holding our pipes must not hang Wait
	if len(opts.CPUs) > 0 {
		err = StartPinned(s.cmd, opts.CPUs)
	} else {
		err = s.cmd.Start()
	}
	if err != nil {
		s.removeDir()
		return nil, fmt.Errorf("start server %s: %w", bin, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Stop()
		case <-s.done:
		}
	}()

	if err := s.waitReady(ctx, orDefault(opts.ReadyTimeout, 30*time.Second)); err != nil {
		_ = s.Stop()
		return nil, err
	}
	// The serving line follows readiness by a moment; without it the
	// gateway's port is unknown and a workload would dial the default.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := pickupServing.FindStringSubmatch(s.stderr.String()); m != nil {
			if m[1] != "off" {
				s.pickupAddr = m[1]
			}
			break
		}
	}
	return s, nil
}

// pickupServing finds the pickup gateway's address in serve's start-up line.
var pickupServing = regexp.MustCompile(`msg="liveplane serving" .*pickup=(\S+)`)

// PickupAddr is the spawned server's pickup gateway address (host:port), or
// "" when it runs none or did not say.
func (s *Server) PickupAddr() string { return s.pickupAddr }

// hasFlag reports whether args set --name (as "--name", "--name=v", "-name").
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz answered %s", resp.Status)
		}
		select {
		case <-s.done:
			return fmt.Errorf("server exited before it was ready (%v); stderr: %s", s.waitErr, s.stderr.String())
		case <-ctx.Done():
			return fmt.Errorf("waiting for server: %w", ctx.Err())
		case <-time.After(readyPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after %v (last: %v); stderr: %s", timeout, err, s.stderr.String())
		}
	}
}

// URL is the server's base URL, e.g. http://127.0.0.1:40123.
func (s *Server) URL() string { return s.url }

// DataDir is the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// AdminToken reads DATA_DIR/admin.token, written by serve on first start.
func (s *Server) AdminToken() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "admin.token"))
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// RSS is the server's resident set size in bytes, from /proc/PID/status.
func (s *Server) RSS() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/status")
	if err != nil {
		return 0, fmt.Errorf("server rss: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("server rss: %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("server rss: no VmRSS in /proc status")
}

// Stop sends SIGTERM, waits StopTimeout, then SIGKILL, and removes a
// temporary data directory. It reports a server that had to be killed or
// that exited with an error other than our SIGTERM. Safe to call twice.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(s.timeout):
			_ = s.cmd.Process.Kill()
			<-s.done
			s.stopErr = fmt.Errorf("server did not stop within %v of SIGTERM; killed", s.timeout)
		}
		if s.stopErr == nil && s.waitErr != nil && !terminatedBySIGTERM(s.waitErr) {
			s.stopErr = fmt.Errorf("server: %w; stderr: %s", s.waitErr, s.stderr.String())
		}
		if err := s.removeDir(); err != nil && s.stopErr == nil {
			s.stopErr = err
		}
	})
	return s.stopErr
}

func (s *Server) removeDir() error {
	if !s.ownDir {
		return nil
	}
	return os.RemoveAll(s.dataDir)
}

func terminatedBySIGTERM(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// readyPoll is how often StartServer asks /readyz; fine enough that the
// startup workload's figure is not dominated by it.
const readyPoll = 2 * time.Millisecond
