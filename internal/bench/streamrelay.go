package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// relayProc is a `liveplane relay` spawned in front of the server, so the
// subscribers measure serve + relay (one upstream per device, fan-out in
// the relay).
type relayProc struct {
	cmd  *exec.Cmd
	url  string
	logs *tail
	done chan struct{}
}

// startRelay runs this executable's relay command on a free port, pinned
// to cpus, and waits until /readyz answers 200.
func startRelay(ctx context.Context, upstream, token string, cpus []int) (*relayProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &relayProc{url: "http://" + addr, logs: &tail{max: 8 << 10}, done: make(chan struct{})}
	r.cmd = exec.Command(exe, "relay", "--listen", addr, "--upstream", upstream)
	r.cmd.Env = append(os.Environ(), "LIVEPLANE_SERVICE_TOKEN="+token)
	r.cmd.Stderr = r.logs
	r.cmd.WaitDelay = time.Second
	if len(cpus) > 0 {
		err = StartPinned(r.cmd, cpus)
	} else {
		err = r.cmd.Start()
	}
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-r.done:
			return nil, fmt.Errorf("relay exited: %s", r.logs.String())
		case <-ctx.Done():
			r.stop()
			return nil, ctx.Err()
		default:
		}
		if res, err := client.Get(r.url + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("relay not ready in 20s: %s", r.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *relayProc) stop() {
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}
