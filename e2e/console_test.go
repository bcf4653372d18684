package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"google.golang.org/protobuf/proto"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
)

// sendReporting sends the uplinker's next uplink reporting config as the
// device's running configuration.
func sendReporting(ctx context.Context, u *uplinker, config map[string]string) error {
	u.n++
	b, _ := proto.Marshal(&lpv1.Uplink{DeviceId: u.dev.GetDevice().GetId(), Credential: u.dev.GetKey(),
		BootCount: u.boot, UplinkCount: u.n, RebootReason: lpv1.RebootReason_REBOOT_REASON_POWER_ON,
		Activity: &lpv1.Activity{SleepSeconds: 60}, Config: config, TemperaturesCentiCelsius: []int32{2150, 2175}})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := u.conn.Post(ctx, "/uplink", message.AppOctets, bytes.NewReader(b))
	if err != nil {
		return err
	}
	if resp.Code() != codes.Changed {
		return fmt.Errorf("uplink %d answered %v", u.n, resp.Code())
	}
	return nil
}

// The web console in a real browser: Debian's chromium driven by
// playwright-core (test/console/console.mjs) against the real serve binary,
// a real kube-apiserver with a real daemon, and a real liveplane relay.
// The script signs in, creates an account (and watches it become READY
// with its cluster's conditions) and a device through the pages,
// watches real CoAP uplinks (sent by this test on the script's request)
// arrive in the Live Logs tab, sees "reconnecting…" and a gap marker across
// a serve restart (and keeps its session), then follows the device through
// the relay (100 uplinks/s measured in the page, a pause's "N lines
// suppressed" marker, the database down), edits config (pending, conflict),
// is refused a CSRF-less change and, signed out, every API call.
// Screenshots land in the test's temp dir; their paths are logged.
func TestConsoleInBrowser(t *testing.T) {
	_, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat("../test/console/node_modules/playwright-core/package.json")
	_, chromeErr := os.Stat("/usr/bin/chromium")
	requireTool(t, "node, Debian chromium and test/console/node_modules (npm ci --prefix test/console)",
		nodeErr == nil && modErr == nil && chromeErr == nil)

	// A real cluster and its daemon, so a new account becomes READY.
	kubetest.Binaries(t)
	cluster := kubetest.APIServer(t, kubetest.Etcd(t), "c1")
	pg := startDedicatedPostgres(t) // stopped mid-test: the Live Logs tab must keep working
	httpAddr, coapAddr, natsAddr := freeAddr(t), freeUDP(t), freeTCP(t)
	const natsToken, relayToken = "console-e2e-nats-token", "console-e2e-relay-token"
	dataDir := t.TempDir()
	// A memory window, so that the restart below starts a new epoch and the
	// page must draw its gap marker (a file window resumes without one).
	args := []string{"--http", httpAddr, "--coap", coapAddr, "--database", pg.url,
		"--nats-listen", natsAddr, "--nats-token", natsToken, "--relay-tokens", relayToken, "--livelog-storage=memory"}
	s := startServe(t, dataDir, nil, args...)
	// The relay admits the console's origin; serve sends the Live Logs tab
	// to it once restarted with --console-relay-url (the "restart" control).
	relay := startRelay(t, "--upstream", s.url, "--service-token", relayToken, "--allowed-origins", s.url)
	daemon := startDaemon(t, cluster.Name(), cluster.Kubeconfig(), "nats://"+natsAddr, natsToken)
	waitFor(t, 30*time.Second, "the cluster registered", func() bool {
		res, err := liveplanev1connect.NewClusterServiceClient(http.DefaultClient, s.url, bearer(s.token)).ListClusters(
			context.Background(), connect.NewRequest(&lpv1.ListClustersRequest{}))
		return err == nil && len(res.Msg.GetClusters()) == 1
	})
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

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
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
	pickups := &consolePickup{}
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
			if c := q.Get("config"); c != "" {
				var reported map[string]string
				if err := json.Unmarshal([]byte(c), &reported); err != nil {
					return err
				}
				return sendReporting(ctx, u, reported)
			}
			n, _ := strconv.Atoi(q.Get("n"))
			for range n {
				if _, err := u.send(ctx); err != nil {
					return err
				}
			}
			return nil
		case "burst": // n uplinks paced at rate/s (sequential: one device's firmware sends in order)
			id := q.Get("device")
			u := uplinkers[id]
			n, _ := strconv.Atoi(q.Get("n"))
			rate, _ := strconv.Atoi(q.Get("rate"))
			if u == nil || n <= 0 || rate <= 0 {
				return fmt.Errorf("burst: want a known device, n and rate")
			}
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			start := time.Now()
			for range n {
				<-tick.C
				if _, err := u.send(ctx); err != nil {
					return err
				}
			}
			t.Logf("burst: %d uplinks in %s (%.0f/s achieved)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
			return nil
		case "daemon-pause": // SIGSTOP: the page shows the account provisioning until resumed
			return daemon.cmd.Process.Signal(syscall.SIGSTOP)
		case "daemon-resume":
			return daemon.cmd.Process.Signal(syscall.SIGCONT)
		case "db-stop":
			pg.run(t, "stop")
			return nil
		case "db-start":
			pg.run(t, "start")
			return nil
		case "pickup":
			return pickups.control(t, s, q)
		case "restart": // relay=1: come back with the console on the relay
			if code := s.stop(); code != 0 {
				return fmt.Errorf("serve exited %d:\n%s", code, s.log())
			}
			if q.Get("relay") == "1" {
				args = append(args, "--console-relay-url", relay.url)
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
	if !strings.Contains(s.log(), "spooling uplinks") {
		t.Errorf("the database outage did not reach serve's spool (the outage step proves nothing):\n%s", s.log())
	}
	for _, name := range []string{"device-logs.png", "device-logs-relay.png", "account-ready.png", "device-logs-suppressed.png"} {
		if _, err := os.Stat(filepath.Join(shots, name)); err != nil {
			t.Errorf("screenshot missing: %v", err)
		}
	}
	// The lines of the relay phase really went through the relay.
	if n := metricAt(t, relay.url, "liveplane_relay_written_total"); n < 300 {
		t.Errorf("the relay wrote %v lines to browsers, want the relay phase's (>= 300):\n%s", n, relay.log())
	}
}
