package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one child process: its own process group (so a stop reaches
// anything it forked), output appended to a log file in the test's temp dir.
type proc struct {
	name string
	log  string
	from int64 // offset of this run's output in log
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // exit status; valid after done
}

// startProc starts bin with args. The log file is appended to, so a
// restarted process keeps its earlier output.
func startProc(t TB, name, logPath, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("kubetest: %s log: %v", name, err)
	}
	fmt.Fprintf(f, "\n=== %s %s %v\n", time.Now().Format(time.RFC3339Nano), filepath.Base(bin), args)
	from, _ := f.Seek(0, io.SeekEnd)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("kubetest: start %s: %v", name, err)
	}
	p := &proc{name: name, log: logPath, from: from, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, SIGKILL after grace, and waits
// for the exit, so the ports are free when it returns. It reports whether
// the process was running.
func (p *proc) stop(grace time.Duration) bool {
	if p == nil || p.exited() {
		return false
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything the process forked and left behind in its group.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return true
}

// waitReady polls ready every 50 ms until it returns nil, the process
// exits, or timeout passes, and returns how long that took. On failure the
// process is stopped and the error carries the end of its output.
func (p *proc) waitReady(timeout time.Duration, ready func(context.Context) error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		if p.exited() {
			return 0, fmt.Errorf("%s exited before it was ready (%v); output:\n%s", p.name, p.err, p.output(8<<10))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			p.stop(5 * time.Second)
			return 0, fmt.Errorf("%s not ready after %v: %v; output:\n%s", p.name, timeout, err, p.output(8<<10))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lostPortRace reports whether p died because another process took one of
// the free ports picked for it; the caller then tries new ones.
func (p *proc) lostPortRace() bool {
	return p.exited() && strings.Contains(p.output(16<<10), "address already in use")
}

// output returns the end (at most n bytes) of what this run of p wrote.
func (p *proc) output(n int64) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	if p.from <= int64(len(b)) {
		b = b[p.from:]
	}
	return trimTail(b, n)
}

// dumpOnFailure logs the tail of each log when the test has failed.
func dumpOnFailure(t TB, logs ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, l := range logs {
			t.Logf("kubetest: %s (last 16 KiB):\n%s", l, tail(l, 16<<10))
		}
	})
}

// tail returns the end (at most n bytes) of the file at path.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return trimTail(b, n)
}

func trimTail(b []byte, n int64) string {
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// freePort asks the kernel for an unused loopback port. Another process can
// take it before ours binds; callers retry when the child fails to listen.
func freePort(t TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// getOK fails unless GET url answers 200 with a body containing want.
func getOK(ctx context.Context, c *http.Client, url, token, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
