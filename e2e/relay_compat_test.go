package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// The independent Python client of test/compat/relay follows a device
// through the real relay while the relay's upstream is dropped twice.
func TestRelayCompatPythonWebsockets(t *testing.T) {
	err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run()
	requireTool(t, "Debian python3-websockets", err == nil)
	httpAddr, coapAddr := freeAddr(t), freeUDP(t)
	s := startServe(t, "", nil, "--http", httpAddr, "--coap", coapAddr, "--relay-tokens", relayToken)
	key, dev := s.accountWithDevice(t, "py-viewers")
	proxy := newCutProxy(t, httpAddr)
	rl := startRelay(t, "--upstream", "http://"+proxy.addr(), "--service-token", relayToken,
		"--allowed-origins", "https://console.example", "--reconnect-min", "20ms", "--reconnect-max", "100ms")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const lines = 60
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "browser.py")
	cmd.Dir = "../test/compat/relay"
	cmd.Env = append(cleanEnv(), "RELAY_URL="+rl.url, "DEVICE="+dev.GetDevice().GetId(), "KEY="+key,
		"ORIGIN=https://console.example", "LINES=60")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		cmd.Wait()
		t.Fatalf("browser.py did not get its hello: %q\n%s", sc.Text(), stderr.String())
	}
	up := newUplinker(t, coapAddr, dev)
	for i := 1; i <= lines; i++ {
		if _, err := up.send(ctx); err != nil {
			t.Fatal(err)
		}
		if i == 20 || i == 40 {
			proxy.drop()
			time.Sleep(50 * time.Millisecond) // the relay notices while lines keep coming
		}
	}
	var summary struct {
		Lines   int      `json:"lines"`
		Notices []string `json:"notices"`
	}
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &summary) != nil {
		cmd.Wait()
		t.Fatalf("browser.py: %q\n%s", sc.Text(), stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser.py: %v\n%s", err, stderr.String())
	}
	if summary.Lines != lines || !slices.Contains(summary.Notices, "reconnecting") || slices.Contains(summary.Notices, "gap") {
		t.Fatalf("browser.py saw %+v: want %d lines, reconnecting notices and no gap", summary, lines)
	}
}
