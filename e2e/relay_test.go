package e2e

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/livelogclient"
)

const relayToken = "relay-e2e-token-0123456789"

// browserView is what one browser-like client saw through the relay.
type browserView struct {
	mu           sync.Mutex
	lines        []*livelogclient.Line
	gaps         []*livelogclient.Gap
	reconnecting int // the relay's notices about its upstream
	ownDrops     int // this browser's own socket dropped
	live         chan struct{}
	liveOnce     sync.Once
}

func (v *browserView) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.lines)
}

func followRelay(t *testing.T, ctx context.Context, relayURL, key, dev string) (*browserView, chan error) {
	c, err := livelogclient.New(livelogclient.Options{URL: relayURL, Path: "/device-logs", DeviceID: dev, Token: key,
		TokenInProtocol: true, Header: http.Header{"Origin": {"https://console.example"}},
		Backoff: livelogclient.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	v := &browserView{live: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ev livelogclient.Event) error {
			v.mu.Lock()
			defer v.mu.Unlock()
			switch ev.Kind {
			case livelogclient.KindLine:
				v.lines = append(v.lines, ev.Line)
			case livelogclient.KindGap:
				v.gaps = append(v.gaps, ev.Gap)
			case livelogclient.KindControl:
				if ev.Control.Type == "reconnecting" {
					v.reconnecting++
				}
			case livelogclient.KindReconnecting:
				v.ownDrops++
			case livelogclient.KindLive:
				v.liveOnce.Do(func() { close(v.live) })
			}
			return nil
		})
	}()
	return v, done
}

// The relay between browsers and serve: one upstream per device, fan-out,
// and when the upstream connections drop (three times, under a steady flow
// of real CoAP uplinks) every browser still gets every line once, in
// order, with reconnecting notices and no gap. A serve restart (new
// epoch: this serve keeps its window in memory) is reported as an explicit gap. When
// the browsers leave, the upstream closes and the registry entry goes.
func TestRelayResumesAcrossUpstreamDrops(t *testing.T) {
	httpAddr, coapAddr, dataDir := freeAddr(t), freeUDP(t), t.TempDir()
	serveArgs := []string{"--http", httpAddr, "--coap", coapAddr, "--relay-tokens", relayToken, "--livelog-storage=memory"}
	s := startServe(t, dataDir, nil, serveArgs...)
	key, dev := s.accountWithDevice(t, "viewers")
	_, foreign := s.accountWithDevice(t, "others")
	proxy := newCutProxy(t, httpAddr)
	rl := startRelay(t, "--upstream", "http://"+proxy.addr(), "--service-token", relayToken,
		"--allowed-origins", "https://console.example", "--reconnect-min", "20ms", "--reconnect-max", "200ms", "--linger", "100ms")
	devID := dev.GetDevice().GetId()

	// Refusals before the upgrade.
	for _, c := range []struct {
		name, dev, key, origin string
		status                 int
	}{
		{"no credential", devID, "", "", 401},
		{"bad key", devID, "lpk_nope", "", 401},
		{"another account's device", foreign.GetDevice().GetId(), key, "", 404},
		{"unknown device", "0190a0b0-0000-7000-8000-00000000dead", key, "", 404},
		{"not a device id", "dev_unknown", key, "", 400},
		{"origin not allowed", devID, key, "https://evil.example", 403},
	} {
		req, _ := http.NewRequest(http.MethodGet, rl.url+"/device-logs?deviceId="+c.dev, nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		if c.origin != "" {
			req.Header.Set("Origin", c.origin)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.name, res.StatusCode, c.status)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var views []*browserView
	var dones []chan error
	for range 3 {
		v, d := followRelay(t, ctx, rl.url, key, devID)
		views, dones = append(views, v), append(dones, d)
	}
	for _, v := range views {
		select {
		case <-v.live:
		case <-time.After(10 * time.Second):
			t.Fatalf("a browser never got its hello:\n%s", rl.log())
		}
	}
	if n := metricAt(t, rl.url, "liveplane_relay_upstreams"); n != 1 {
		t.Fatalf("relay upstreams = %v with 3 browsers on one device, want 1", n)
	}

	// Phase 1: steady uplinks, the upstream dropped three times.
	up := newUplinker(t, coapAddr, dev)
	const total = 300
	drops := 0
	for i := 1; i <= total; i++ {
		if _, err := up.send(ctx); err != nil {
			t.Fatalf("uplink %d: %v", i, err)
		}
		if i%75 == 0 && drops < 3 {
			if proxy.drop() == 0 {
				t.Fatal("the proxy had no upstream connection to drop")
			}
			drops++
		}
		time.Sleep(2 * time.Millisecond)
	}
	waitUntil(t, 15*time.Second, "every browser to get every line", func() bool {
		for _, v := range views {
			if v.count() < total {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // a late duplicate would show now
	for i, v := range views {
		v.mu.Lock()
		if len(v.lines) != total {
			t.Errorf("browser %d: %d lines, want %d exactly", i, len(v.lines), total)
		}
		for j, l := range v.lines {
			if want := fmt.Sprintf("Received uplink #%d", j+1); l.Message != want {
				t.Fatalf("browser %d line %d: %q, want %q", i, j, l.Message, want)
			}
			if j > 0 && l.Prev != v.lines[j-1].Seq {
				t.Fatalf("browser %d line %d: prev %d after seq %d", i, j, l.Prev, v.lines[j-1].Seq)
			}
		}
		if len(v.gaps) != 0 {
			t.Errorf("browser %d saw gaps %+v", i, v.gaps[0])
		}
		if v.reconnecting < drops {
			t.Errorf("browser %d saw %d reconnecting notices for %d upstream drops", i, v.reconnecting, drops)
		}
		t.Logf("browser %d: %d lines, %d reconnecting notices, %d gaps", i, len(v.lines), v.reconnecting, len(v.gaps))
		if v.ownDrops != 0 {
			t.Errorf("browser %d's own socket dropped %d times", i, v.ownDrops)
		}
		v.mu.Unlock()
	}
	if n := metricAt(t, rl.url, "liveplane_relay_upstreams"); n != 1 {
		t.Errorf("relay upstreams = %v after the drops, want 1", n)
	}

	// Phase 2: serve restarts; its memory window is gone: an explicit gap.
	s.stop()
	s = startServe(t, dataDir, nil, serveArgs...)
	up = newUplinker(t, coapAddr, dev)
	waitUntil(t, 15*time.Second, "the relay to resume on the new serve", func() bool {
		return metricAt(t, s.url, "liveplane_ws_subscribers") == 1
	})
	for i := 1; i <= 10; i++ {
		if _, err := up.send(ctx); err != nil {
			t.Fatalf("uplink after restart %d: %v", i, err)
		}
	}
	waitUntil(t, 15*time.Second, "the lines after the restart", func() bool {
		for _, v := range views {
			if v.count() < total+10 {
				return false
			}
		}
		return true
	})
	for i, v := range views {
		v.mu.Lock()
		if len(v.gaps) != 1 || v.gaps[0].Reason != livelogclient.ReasonEpoch {
			t.Errorf("browser %d: gaps %v after a serve restart, want one epoch gap", i, v.gaps)
		}
		if l := v.lines[total]; l.Epoch == v.lines[total-1].Epoch || !strings.HasSuffix(l.Message, "#1") {
			t.Errorf("browser %d: first line after the restart %+v", i, l)
		}
		v.mu.Unlock()
	}

	// Phase 3: the browsers leave: the upstream closes, the entry goes.
	cancel()
	for _, d := range dones {
		if err := <-d; err != nil {
			t.Errorf("browser ended with %v", err)
		}
	}
	// The clients left nothing behind (livelogclient runs on the caller's
	// goroutine; the connections' own goroutines end with them).
	waitUntil(t, 10*time.Second, "the followers' goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		return !strings.Contains(stacks, "livelogclient.") && !strings.Contains(stacks, "coder/websocket.")
	})
	waitUntil(t, 10*time.Second, "the relay's registry to empty", func() bool {
		return metricAt(t, rl.url, "liveplane_relay_upstreams") == 0 && metricAt(t, rl.url, "liveplane_relay_browsers") == 0
	})
	waitUntil(t, 10*time.Second, "serve to see the upstream close", func() bool {
		return metricAt(t, s.url, "liveplane_ws_subscribers") == 0
	})
}

// The relay's configuration: the service token is masked when printed and
// required to run.
func TestRelayConfig(t *testing.T) {
	out, errOut, code := cli(t, nil, "relay", "--print-config", "--service-token", relayToken, "--upstream", "http://127.0.0.1:1")
	if code != 0 || strings.Contains(out+errOut, relayToken) || !strings.Contains(out, "service-token") {
		t.Errorf("print-config: exit %d, token shown or setting missing:\n%s%s", code, out, errOut)
	}
	if _, errOut, code := cli(t, nil, "relay", "--listen", "127.0.0.1:0"); code != 2 || !strings.Contains(errOut, "--service-token") {
		t.Errorf("no service token: exit %d %s, want 2 naming --service-token", code, errOut)
	}
}
