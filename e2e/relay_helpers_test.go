package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
	"google.golang.org/protobuf/proto"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// relayProc is a running `liveplane relay`.
type relayProc struct {
	*child
	url string
}

var relayServing = regexp.MustCompile(`msg="liveplane relay serving" http=(\S+)`)

func startRelay(t *testing.T, args ...string) *relayProc {
	t.Helper()
	r := &relayProc{child: newChild(append([]string{"relay", "--listen", "127.0.0.1:0"}, args...)...)}
	r.cmd.Env = cleanEnv()
	r.url = "http://" + r.start(t, "relay", relayServing, func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			_ = r.cmd.Process.Kill()
			t.Errorf("relay did not stop within 10s of SIGTERM")
		}
	})
	return r
}

// metric reads one sample of a /metrics page; -1 when absent.
func metricAt(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for l := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// cutProxy forwards TCP to a target and can drop every connection at once:
// the upstream "network" between the relay and serve.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	paused bool // refuse new connections (close them at once)
}

// pause makes the proxy refuse (close) new connections until resumed.
func (p *cutProxy) pause(v bool) {
	p.mu.Lock()
	p.paused = v
	p.mu.Unlock()
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.drop() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) pipe(c net.Conn) {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	if paused {
		c.Close()
		return
	}
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
}

// drop closes every proxied connection; new ones are accepted.
func (p *cutProxy) drop() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns) / 2
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	return n
}

// uplinker sends real CoAP uplinks of one device, like its firmware would.
type uplinker struct {
	dev  *lpv1.CreateDeviceResponse
	boot uint32
	n    uint32
	conn *udpclient.Conn
}

func newUplinker(t *testing.T, coapAddr string, dev *lpv1.CreateDeviceResponse) *uplinker {
	t.Helper()
	cc, err := udp.Dial(coapAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return &uplinker{dev: dev, boot: uint32(time.Now().Unix()), conn: cc}
}

// send posts the next uplink and returns its count once serve answered 2.04.
func (u *uplinker) send(ctx context.Context) (uint32, error) {
	u.n++
	b, _ := proto.Marshal(&lpv1.Uplink{DeviceId: u.dev.GetDevice().GetId(), Credential: u.dev.GetKey(),
		BootCount: u.boot, UplinkCount: u.n, RebootReason: lpv1.RebootReason_REBOOT_REASON_POWER_ON,
		Activity: &lpv1.Activity{SleepSeconds: 60}})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := u.conn.Post(ctx, "/uplink", message.AppOctets, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	if resp.Code() != codes.Changed {
		return 0, fmt.Errorf("uplink %d answered %v", u.n, resp.Code())
	}
	return u.n, nil
}

// accountWithDevice creates an account with an API key and one device in it.
func (s *server) accountWithDevice(t *testing.T, name string) (key string, dev *lpv1.CreateDeviceResponse) {
	t.Helper()
	ctx := context.Background()
	acc, err := s.accounts(bearer(s.token)).CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{
		Name: name, CreateApiKey: true}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.devices().CreateDevice(ctx, connect.NewRequest(&lpv1.CreateDeviceRequest{
		AccountId: acc.Msg.GetAccount().GetId(), Name: "meter"}))
	if err != nil {
		t.Fatal(err)
	}
	return acc.Msg.GetApiKeySecret(), d.Msg
}

func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
