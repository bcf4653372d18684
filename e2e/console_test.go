package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// The web console in a real browser: Debian's chromium driven by
// playwright-core (test/console/console.mjs) against the real serve binary.
// The script signs in, creates an account and a device through the pages,
// watches real CoAP uplinks (sent by this test on the script's request)
// arrive in the Live Logs tab, sees "reconnecting…" and a gap marker across
// a serve restart (and keeps its session), edits config (pending, conflict),
// is refused a CSRF-less change and, signed out, every API call.
// Screenshots land in the test's temp dir; their paths are logged.
func TestConsoleInBrowser(t *testing.T) {
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat("../test/console/node_modules/playwright-core/package.json")
	_, chromeErr := os.Stat("/usr/bin/chromium")
	requireTool(t, "node, Debian chromium and test/console/node_modules (npm ci --prefix test/console)",
		nodeErr == nil && modErr == nil && chromeErr == nil)

	httpAddr, coapAddr := freeAddr(t), freeUDP(t)
	dataDir := t.TempDir()
	args := []string{"--http", httpAddr, "--coap", coapAddr}
	s := startServe(t, dataDir, nil, args...)
	shots := t.TempDir()
	if d := os.Getenv("LIVEPLANE_CONSOLE_SHOTS"); d != "" { // keep them after the run
		shots = d
	}

	// The script asks for uplinks and restarts through this endpoint; the
	// work runs on the test goroutine (startServe may t.Fatal).
	type job struct {
		r    *http.Request
		done chan error
	}
	jobs := make(chan job)
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j := job{r: r, done: make(chan error, 1)}
		select {
		case jobs <- j:
		case <-r.Context().Done():
			return
		}
		if err := <-j.done; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer control.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "console.mjs")
	cmd.Dir = "../test/console"
	cmd.Env = append(cleanEnv(), "CONSOLE_URL="+s.url, "ADMIN_TOKEN="+s.token, "CONSOLE_CONTROL="+control.URL, "SHOT_DIR="+shots)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	uplinkers := map[string]*uplinker{}
	handle := func(r *http.Request) error {
		q := r.URL.Query()
		switch strings.TrimPrefix(r.URL.Path, "/") {
		case "uplink":
			id := q.Get("device")
			u := uplinkers[id]
			if u == nil {
				u = newUplinker(t, coapAddr, &lpv1.CreateDeviceResponse{Device: &lpv1.Device{Id: id}, Key: q.Get("key")})
				uplinkers[id] = u
			}
			n, _ := strconv.Atoi(q.Get("n"))
			for range n {
				if _, err := u.send(ctx); err != nil {
					return err
				}
			}
			return nil
		case "restart":
			if code := s.stop(); code != 0 {
				return fmt.Errorf("serve exited %d:\n%s", code, s.log())
			}
			s = startServe(t, dataDir, nil, args...)
			return nil
		}
		return fmt.Errorf("unknown control %q", r.URL.Path)
	}

	var log strings.Builder
	passed := false
	for lines != nil {
		select {
		case l, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			log.WriteString(l + "\n")
			if strings.HasPrefix(l, "screenshot: ") || strings.HasPrefix(l, "figure") {
				t.Log(l)
			}
			passed = passed || l == "console browser scenarios: PASS"
		case j := <-jobs:
			j.done <- handle(j.r)
		}
	}
	werr := cmd.Wait()
	if werr != nil || !passed {
		t.Fatalf("browser scenarios failed (%v); screenshots in %s\n%s\nserve log:\n%s", werr, shots, log.String(), s.log())
	}
	if _, err := os.Stat(filepath.Join(shots, "device-logs.png")); err != nil {
		t.Errorf("screenshot missing: %v", err)
	}
}
