package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/testinfra/logtest"
)

// `liveplane logs follow`: history with --since, then the live tail, each
// line once and in order across a dropped connection (through a proxy that
// cuts it), with the notice on stderr; refusals map to exit codes.
func TestLogsFollowCLI(t *testing.T) {
	httpAddr, coapAddr := freeAddr(t), freeUDP(t)
	s := startServe(t, "", nil, "--http", httpAddr, "--coap", coapAddr)
	key, dev := s.accountWithDevice(t, "cli-viewers")
	devID := dev.GetDevice().GetId()
	up := newUplinker(t, coapAddr, dev)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range 5 {
		if _, err := up.send(ctx); err != nil {
			t.Fatal(err)
		}
	}

	env := []string{"LIVEPLANE_TOKEN=" + key}
	if _, errOut, code := cli(t, env, "logs", "follow", "--device", "0190a0b0-0000-7000-8000-00000000dead", "--server", s.url); code != 4 {
		t.Errorf("unknown device: exit %d (%s), want 4", code, errOut)
	}
	if _, errOut, code := cli(t, []string{"LIVEPLANE_TOKEN=lpk_bad"}, "logs", "follow", "--device", devID, "--server", s.url); code != 3 {
		t.Errorf("bad key: exit %d (%s), want 3", code, errOut)
	}

	proxy := newCutProxy(t, httpAddr)
	cmd := exec.CommandContext(ctx, binary, "logs", "follow", "--device", devID, "--since", "3",
		"--server", "http://"+proxy.addr(), "--reconnect-min", "20ms", "--reconnect-max", "100ms")
	cmd.Env = append(cleanEnv(), env...)
	var stderr logtest.Buffer // written by exec's copier while the test reads it
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(n int) {
		t.Helper()
		select {
		case l := <-lines:
			if !strings.Contains(l, fmt.Sprintf("uplink  Received uplink #%d", n)) {
				t.Fatalf("got %q, want uplink #%d", l, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no line for uplink #%d; stderr:\n%s", n, stderr.String())
		}
	}
	for n := 3; n <= 5; n++ { // --since 3
		expect(n)
	}
	for n := 6; n <= 8; n++ {
		if _, err := up.send(ctx); err != nil {
			t.Fatal(err)
		}
		expect(n)
	}
	proxy.drop()
	for n := 9; n <= 12; n++ {
		if _, err := up.send(ctx); err != nil {
			t.Fatal(err)
		}
		expect(n)
	}
	select {
	case l := <-lines:
		t.Fatalf("unexpected extra line %q", l)
	case <-time.After(300 * time.Millisecond):
	}
	if !strings.Contains(stderr.String(), "reconnecting (attempt 1") {
		t.Errorf("no reconnecting notice on stderr:\n%s", stderr.String())
	}
	if strings.Contains(stderr.String(), "gap") {
		t.Errorf("a gap was reported:\n%s", stderr.String())
	}
}
