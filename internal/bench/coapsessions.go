package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/udp/coder"
)

// CoAPSessions is the coap-sessions workload: memory per live CoAP session.
type CoAPSessions struct {
	sessions int
	devices  int
	sources  int
	workers  int
}

var _ Workload = (*CoAPSessions)(nil)

func (*CoAPSessions) Name() string { return "coap-sessions" }

func (*CoAPSessions) Help() string {
	return `Memory per live CoAP session: --sessions peers, each a fresh UDP socket (a
new source address and port, 127.0.0.2...), send one real uplink each (CON,
2.04 expected) and close; the server keeps each peer's exchange state for
the exchange lifetime (247 s). Reported: server RSS before and after,
liveplane_coap_sessions from /metrics, and (RSS after - before) / sessions.
The load flags (--rate, --duration) are ignored. Needs --spawn.`
}

func (c *CoAPSessions) Flags(fs *flag.FlagSet) {
	fs.IntVar(&c.sessions, "sessions", 50000, "distinct peers (source address and port)")
	fs.IntVar(&c.devices, "devices", 100, "devices the uplinks come from")
	fs.IntVar(&c.sources, "sources", 200, "loopback source addresses 127.0.0.2..")
	fs.IntVar(&c.workers, "workers", 64, "peers in flight at once")
}

func (c *CoAPSessions) Run(ctx context.Context, env Env) (Result, error) {
	if env.Server == nil {
		return Result{}, errors.New("needs --spawn (it reads the server's RSS)")
	}
	m := coapServingLine.FindStringSubmatch(env.Server.stderr.String())
	if m == nil {
		return Result{}, errors.New("no CoAP address in the server's log")
	}
	to, err := net.ResolveUDPAddr("udp", m[1])
	if err != nil {
		return Result{}, err
	}
	f, err := newFleet(ctx, env, c.devices)
	if err != nil {
		return Result{}, err
	}
	time.Sleep(time.Second) // let start-up garbage settle before the baseline
	before, err := env.Server.RSS()
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(c.sessions) || ctx.Err() != nil {
					return
				}
				if err := c.peer(to, int(i), f); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := env.Server.RSS()
	if err != nil {
		return Result{}, err
	}
	live, err := metricValue(env.ServerURL+"/metrics", "liveplane_coap_sessions")
	if err != nil {
		return Result{}, err
	}
	res := Result{Workload: c.Name(), Mode: ClosedLoop, Start: start, Concurrency: c.workers,
		ElapsedSec: elapsed.Seconds(), OK: int64(c.sessions) - failed.Load(), Errors: failed.Load(),
		AchievedRate: float64(c.sessions) / elapsed.Seconds()}
	res.Extra = map[string]any{
		"rss_before_bytes": before, "rss_after_bytes": after, "live_sessions": live,
		"bytes_per_session": float64(after-before) / max(live, 1),
	}
	return res, nil
}

// peer sends one uplink from a fresh socket and waits for its answer.
func (c *CoAPSessions) peer(to *net.UDPAddr, i int, f *fleet) error {
	src := &net.UDPAddr{IP: net.IPv4(127, 0, byte(i/c.sources/250%250), byte(2+i%c.sources))}
	conn, err := net.ListenUDP("udp", src)
	if err != nil {
		return err
	}
	defer conn.Close()
	m := message.Message{Type: message.Confirmable, Code: codes.POST, MessageID: int32(i & 0xffff), Token: []byte{byte(i), byte(i >> 8)},
		Payload: f.next(i % len(f.devices))}
	buf := make([]byte, 64)
	m.Options, _, _ = m.Options.SetPath(buf, "/uplink")
	out := make([]byte, 2048)
	n, err := coder.DefaultCoder.Encode(m, out)
	if err != nil {
		return err
	}
	for try := 0; try < 4; try++ {
		if _, err := conn.WriteToUDP(out[:n], to); err != nil {
			return err
		}
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, err := conn.Read(out)
		if err == nil && k >= 2 && codes.Code(out[1]) == codes.Changed {
			return nil
		}
		if err == nil {
			return fmt.Errorf("answer code %v", codes.Code(out[1]))
		}
	}
	return errors.New("no answer")
}

func metricValue(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s not in %s", name, url)
}
