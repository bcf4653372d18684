package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
)

// serveEcho is the baseline: a go-coap v3 UDP server with its defaults,
// answering every request with 2.04 Changed and the request body.
func serveEcho(ctx context.Context, addr string) error {
	l, err := net.ListenUDP("udp", mustUDPAddr(addr))
	if err != nil {
		return err
	}
	srv := udp.NewServer(options.WithContext(ctx), options.WithHandlerFunc(func(w *responsewriter.ResponseWriter[*udpclient.Conn], r *pool.Message) {
		body, _ := r.ReadBody()
		_ = w.SetResponse(codes.Changed, message.AppOctets, bytes.NewReader(body))
	}))
	go func() { <-ctx.Done(); srv.Stop() }()
	return srv.Serve(coapnet.NewUDPConn("udp", l))
}

func mustUDPAddr(s string) *net.UDPAddr {
	a, err := net.ResolveUDPAddr("udp", s)
	if err != nil {
		return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	}
	return a
}

// startEcho runs this executable as the echo server, pinned like the server
// under test (the server's CPUs, GOMAXPROCS to match), and returns its
// address and a stop function.
func startEcho(ctx context.Context, env Env) (string, func(), error) {
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", nil, err
	}
	addr := l.LocalAddr().String()
	l.Close()
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cpus := serverCPUs(env)
	cmd := exec.Command(exe, "bench", "coap", "--serve-echo", addr, "--client-cpus", FormatCPUs(cpus),
		"--duration", "1h", "--warmup", "0s", "--rate", "0", "--server", "http://127.0.0.1:1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", max(len(cpus), 1)))
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	// Ready when it answers.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cc, err := udp.Dial(addr)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			_, err = cc.Post(pctx, "/uplink", message.AppOctets, bytes.NewReader([]byte("x")))
			cancel()
			cc.Close()
			if err == nil {
				return addr, stop, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("echo server did not answer: %s", errb.String())
}

// serverCPUs are the CPUs the echo runs on: core 0, --server-cpus' default.
func serverCPUs(Env) []int { return []int{0} }

// serverCPUTime is the spawned server's user+system CPU seconds from
// /proc/PID/stat; 0 when unknown.
func serverCPUTime(env Env) float64 {
	if env.Server == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", env.Server.PID()))
	if err != nil {
		return 0
	}
	// Fields after the command (which may hold spaces) start after ")".
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	var ut, st float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100 // USER_HZ
}
