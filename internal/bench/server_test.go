//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartServer(t *testing.T) {
	needCPU0(t)
	srv, err := StartServer(context.Background(), ServerOptions{Binary: fakeServerBin, CPUs: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	pid, dir := srv.PID(), srv.DataDir()
	defer srv.Stop()

	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL())
	}
	if tok, err := srv.AdminToken(); err != nil || tok != "fake-admin-token" {
		t.Errorf("AdminToken = %q, %v; want the trimmed file content", tok, err)
	}
	if rss, err := srv.RSS(); err != nil || rss <= 0 {
		t.Errorf("RSS = %d, %v; want > 0", rss, err)
	}
	if got := allowedCPUs(t, fmt.Sprintf("/proc/%d/status", pid)); got != "0" {
		t.Errorf("server allowed on CPUs %q, want 0", got)
	}

	if err := srv.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s still there after Stop (%v)", dir, err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("server pid %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartServerKeepsGivenDataDir(t *testing.T) {
	dir := t.TempDir()
	srv, err := StartServer(context.Background(), ServerOptions{Binary: fakeServerBin, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir + "/admin.token"); err != nil {
		t.Errorf("caller's data dir was cleaned up: %v", err)
	}
}

func TestStartServerReportsStderr(t *testing.T) {
	_, err := StartServer(context.Background(), ServerOptions{Binary: fakeServerBin, Args: []string{"--fail", "cannot open database"}})
	if err == nil || !strings.Contains(err.Error(), "cannot open database") || !strings.Contains(err.Error(), "exited") {
		t.Errorf("err = %v; want exit and the stderr tail", err)
	}
}

func TestStartServerStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := StartServer(ctx, ServerOptions{Binary: fakeServerBin})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-srv.done:
	case <-time.After(5 * time.Second):
		t.Fatal("server still running 5s after its context ended")
	}
	_ = srv.Stop()
}
