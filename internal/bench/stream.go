package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/coder/websocket"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
	"google.golang.org/protobuf/proto"

	liveplanev1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
	"github.com/liveplane/liveplane/internal/livelogclient"
)

// Stream is the live-log stream workload: devices publishing real CoAP
// uplinks, WebSocket subscribers on serve's /ws, latency from the line's
// timestamp (serve's clock when it received the uplink) to the
// subscriber's receipt.
type Stream struct {
	mode        string
	devices     int
	deviceRate  float64
	subscribers int
	stormEvery  time.Duration
	slowAfter   time.Duration
	coapAddr    string
	subURL      string
	peerArgs    string
	sources     int
	backoffBase time.Duration
	relayToken  string
	split       bool
}

var _ Workload = (*Stream)(nil)

func (*Stream) Name() string { return "stream" }

func (*Stream) Help() string {
	return `Live-log streams (serve's /ws), one --mode per run:
  steady    --devices background devices × --device-rate uplinks/s, plus one
            hot device at --rate uplinks/s followed by --subscribers
            subscribers. Latency: line timestamp (serve's receipt of the CoAP
            uplink) -> subscriber receipt, over every subscriber's lines.
  fanout    the hot device only, --subscribers on it: delivered msgs/s.
  idle      --subscribers authenticated subscribers spread over the devices,
            nothing published: server RSS per connection and its growth
            over --duration (sampled every second).
  storm     like fanout, and every --storm-every every subscriber socket is
            cut (client side, no close frame); each resumes with seq/epoch.
            Extra back_to_live: drop -> next hello, its deliberate backoff
            delay subtracted.
  slow      like fanout; after --slow-after one more subscriber connects and
            never reads. Extra: the others' p99 before/after, and when serve
            closed the slow one (liveplane_ws_closed_total{reason="lagging"}).
  replicas  steady, with the subscribers on a second instance (--peer-args,
            e.g. the same --database and a --nats of a two-node cluster):
            the broker hop.
Every mode: lost (acknowledged hot uplinks a subscriber never got, summed),
duplicates, gaps (explicit; must all be 0 outside a restart), server RSS.
Devices are real: created over the API, CoAP uplinks with their keys.
--relay-token puts a spawned relay between the subscribers and serve.
Mind the open files limit (ulimit -n) for many subscribers, on both sides.`
}

func (s *Stream) Flags(fs *flag.FlagSet) {
	fs.StringVar(&s.mode, "mode", "steady", "steady, fanout, idle, storm, slow or replicas")
	fs.IntVar(&s.devices, "devices", 1000, "background devices (steady, replicas); idle: devices the subscribers are spread over")
	fs.Float64Var(&s.deviceRate, "device-rate", 2, "uplinks/s per background device")
	fs.IntVar(&s.subscribers, "subscribers", 100, "WebSocket subscribers")
	fs.DurationVar(&s.stormEvery, "storm-every", time.Second, "storm: cut every subscriber socket this often")
	fs.DurationVar(&s.slowAfter, "slow-after", 0, "slow: when the non-reading subscriber joins (default: half of --duration)")
	fs.StringVar(&s.coapAddr, "coap-addr", "", "CoAP address of the server (default: from the spawned server's log)")
	fs.StringVar(&s.subURL, "sub-url", "", "base `URL` subscribers connect to (default: the server; replicas: the peer)")
	fs.StringVar(&s.peerArgs, "peer-args", "", "replicas: spawn a second instance with these serve flags; subscribers go there")
	fs.BoolVar(&s.split, "split", false, "replicas: also put --subscribers subscribers on the publishing instance, in the same run; "+
		"extra local_latency and hop_p50_ms/hop_p99_ms (the peer's minus the local figure) isolate the broker hop")
	fs.IntVar(&s.sources, "sources", 8, "loopback source addresses the device sockets are spread over")
	fs.StringVar(&s.relayToken, "relay-token", "", "spawn `liveplane relay` (pinned with the server, core 0) with this service token and subscribe through it (/device-logs); give serve the same token with --server-args --relay-tokens=...")
	fs.DurationVar(&s.backoffBase, "backoff", 100*time.Millisecond, "subscribers' reconnect backoff base (full jitter)")
}

func (s *Stream) Run(ctx context.Context, env Env) (Result, error) {
	res, err := s.run(ctx, env)
	res.Workload = s.Name() + "/" + s.mode
	return res, err
}

func (s *Stream) run(ctx context.Context, env Env) (Result, error) {
	switch s.mode {
	case "steady", "fanout", "idle", "storm", "slow", "replicas":
	default:
		return Result{}, fmt.Errorf("--mode %q: want steady, fanout, idle, storm, slow or replicas", s.mode)
	}
	addr := s.coapAddr
	// The serving line follows readiness by a moment.
	for deadline := time.Now().Add(5 * time.Second); addr == "" && env.Server != nil && time.Now().Before(deadline); {
		if m := coapServingLine.FindStringSubmatch(env.Server.stderr.String()); m != nil {
			addr = m[1]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if addr == "" && s.mode != "idle" {
		return Result{}, errors.New("no CoAP address: use --spawn or --coap-addr")
	}
	subURL := s.subURL
	if subURL == "" {
		subURL = env.ServerURL
	}
	var peer *Server
	if s.peerArgs != "" {
		p, err := StartServer(ctx, ServerOptions{Args: strings.Fields(s.peerArgs), CPUs: []int{0}})
		if err != nil {
			return Result{}, fmt.Errorf("--peer-args: %w", err)
		}
		defer p.Stop()
		peer = p
		if s.subURL == "" {
			subURL = p.URL()
		}
		env.Log.Info("peer ready", "url", p.URL(), "pid", p.PID())
	} else if s.mode == "replicas" && s.subURL == "" {
		return Result{}, errors.New("replicas: give --peer-args (spawn the second instance) or --sub-url")
	}

	subPath := "/ws"
	metricsURL := subURL // where liveplane_ws_closed_total is read
	if s.relayToken != "" {
		rl, err := startRelay(ctx, subURL, s.relayToken, []int{0})
		if err != nil {
			return Result{}, err
		}
		defer rl.stop()
		env.Log.Info("relay ready", "url", rl.url, "upstream", subURL)
		subURL, subPath = rl.url, "/device-logs"
	}

	nbg := s.devices
	if s.mode == "fanout" || s.mode == "storm" || s.mode == "slow" {
		nbg = 0
	}
	env.Log.Info("creating devices", "n", nbg+1)
	fl, key, err := streamFleet(ctx, env, nbg+1)
	if err != nil {
		return Result{}, err
	}
	devIDs := make([]string, len(fl.devices))
	for i, d := range fl.devices {
		devIDs[i] = d.GetDevice().GetId()
	}
	sampler := newRSSSampler(env.Server, peer)
	defer sampler.stop()
	backoff := livelogclient.Backoff{Base: s.backoffBase, Max: 10 * s.backoffBase}
	subs := newSubFleet()
	defer subs.stop()

	if s.mode == "idle" {
		return s.runIdle(ctx, env, subs, subURL, subPath, key, devIDs, sampler, backoff)
	}

	env.Log.Info("connecting subscribers", "n", s.subscribers, "url", subURL)
	if err := subs.start(ctx, subURL, subPath, key, devIDs[:1], s.subscribers, true, backoff); err != nil {
		return Result{}, fmt.Errorf("subscribers: %w", err)
	}
	// With --split, the same number follow the hot device on the instance
	// that receives its uplinks: the difference is the hop between them.
	var local *subFleet
	if s.split {
		if s.mode != "replicas" || peer == nil || s.relayToken != "" {
			return Result{}, errors.New("--split: only with --mode replicas, --peer-args and no relay")
		}
		local = newSubFleet()
		defer local.stop()
		env.Log.Info("connecting local subscribers", "n", s.subscribers, "url", env.ServerURL)
		if err := local.start(ctx, env.ServerURL, subPath, key, devIDs[:1], s.subscribers, true, backoff); err != nil {
			return Result{}, fmt.Errorf("local subscribers: %w", err)
		}
	}
	fleets := []*subFleet{subs}
	if local != nil {
		fleets = append(fleets, local)
	}
	hot, err := newStreamPublisher(addr, fl, 0, s.sources)
	if err != nil {
		return Result{}, err
	}
	defer hot.close()
	start := time.Now()
	for _, f := range fleets {
		f.measureFrom.Store(start.Add(env.Load.Warmup).UnixNano())
	}

	var wg sync.WaitGroup
	var bgErr error
	if nbg > 0 && s.deviceRate > 0 {
		bg, err := newStreamPublisher(addr, fl, 1, s.sources)
		if err != nil {
			return Result{}, err
		}
		defer bg.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			load := env.Load
			load.Rate = float64(nbg) * s.deviceRate
			_, bgErr = Run(ctx, load, func(ctx context.Context, i int64) error { return bg.send(ctx, 1+int(i%int64(nbg))) })
		}()
	}
	stopSide := make(chan struct{})
	var side sync.WaitGroup
	extra := map[string]any{}
	switch s.mode {
	case "storm":
		side.Add(1)
		go func() {
			defer side.Done()
			s.storm(stopSide, subs, extra)
		}()
	case "slow":
		side.Add(1)
		go func() {
			defer side.Done()
			s.slow(ctx, stopSide, env, subs, metricsURL, key, devIDs[0], start, extra)
		}()
	}

	load := env.Load
	cpu0, self0, wall0 := serverCPUTime(env), procCPUSeconds(os.Getpid()), time.Now()
	res, err := Run(ctx, load, func(ctx context.Context, i int64) error { return hot.send(ctx, 0) })
	// Which side ran out of CPU: the server's core, or the generator's
	// (subscribers decoding every line)?
	cpu := map[string]any{}
	if cpu1 := serverCPUTime(env); cpu1 > 0 {
		cpu["server_cpu_share"] = (cpu1 - cpu0) / time.Since(wall0).Seconds()
	}
	if self1 := procCPUSeconds(os.Getpid()); self1 > 0 {
		cpu["generator_cpu_share"] = (self1 - self0) / time.Since(wall0).Seconds()
	}
	wg.Wait()
	close(stopSide)
	side.Wait()
	maps.Copy(extra, cpu)
	if err != nil {
		return res, err
	}
	if bgErr != nil {
		return res, fmt.Errorf("background devices: %w", bgErr)
	}
	for _, srv := range []*Server{env.Server, peer} {
		if srv == nil {
			continue
		}
		select {
		case <-srv.done:
			return res, fmt.Errorf("the server (pid %d) exited during the run: %v; its last log lines: %s", srv.PID(), srv.waitErr, srv.stderr.String())
		default:
		}
	}
	acked, maxN := hot.ackedSet()
	// Drain: every subscriber should get every acknowledged uplink.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, f := range fleets {
			for _, sub := range f.subs {
				if sub.unique.Load() < int64(hot.ackedCount()) {
					done = false
					break
				}
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	subs.stop()
	t := subs.tally(acked, maxN)

	// The result's latency is delivery, not the CoAP round trip.
	coapLat := res.Latency
	subs.mu.Lock()
	res.Latency = summarise(subs.lat)
	res.setHistogram(subs.lat)
	if s.mode == "slow" {
		extra["p99_after_ms"] = summarise(subs.after).P99
		extra["p99_before_ms"] = res.Latency.P99
		extra["p99_delta_ms"] = summarise(subs.after).P99 - res.Latency.P99
	}
	if s.mode == "storm" {
		extra["back_to_live"] = summarise(subs.back)
	}
	subs.mu.Unlock()
	measured := res.ElapsedSec
	if measured <= 0 {
		measured = env.Load.Duration.Seconds()
	}
	extra["coap_uplink_latency"] = coapLat
	extra["hot_uplinks_acked"] = hot.ackedCount()
	extra["delivered_in_window"] = subs.inWindow.Load()
	extra["delivered_per_s"] = float64(subs.inWindow.Load()) / measured
	extra["lost"] = t.lost
	extra["duplicates"] = t.dups
	extra["gaps"] = t.gaps
	extra["order_gaps"] = t.orderGaps
	extra["subscriber_reconnects"] = t.closes
	extra["subscribers"] = len(subs.subs)
	if local != nil {
		local.stop()
		lt := local.tally(acked, maxN)
		local.mu.Lock()
		ll := summarise(local.lat)
		local.mu.Unlock()
		extra["local_latency"] = ll
		extra["local_lost"], extra["local_duplicates"], extra["local_gaps"] = lt.lost, lt.dups, lt.gaps
		extra["hop_p50_ms"] = res.Latency.P50 - ll.P50
		extra["hop_p99_ms"] = res.Latency.P99 - ll.P99
	}
	// Lines serve itself dropped (publish failed or timed out) explain a
	// loss the subscribers cannot.
	if env.Server != nil {
		extra["server_livelog_dropped"] = scrapeMetric(env.ServerURL, "liveplane_livelog_dropped_total")
		extra["server_livelog_publish_retries"] = scrapeMetric(env.ServerURL, "liveplane_livelog_publish_retries_total")
	}
	sampler.report(extra)
	res.Extra = extra
	return res, nil
}

// storm cuts every subscriber socket every stormEvery.
func (s *Stream) storm(stop <-chan struct{}, subs *subFleet, extra map[string]any) {
	t := time.NewTicker(s.stormEvery)
	defer t.Stop()
	storms, cut := 0, 0
	for {
		select {
		case <-stop:
			extra["storms"], extra["sockets_cut"] = storms, cut
			return
		case <-t.C:
			now := time.Now().UnixNano()
			for _, sub := range subs.subs {
				sub.dropAt.Store(now)
			}
			cut += subs.conns.dropAll()
			storms++
		}
	}
}

// slow adds a subscriber that never reads, and times serve closing it.
func (s *Stream) slow(ctx context.Context, stop <-chan struct{}, env Env, subs *subFleet, url, key, dev string, start time.Time, extra map[string]any) {
	after := s.slowAfter
	if after <= 0 {
		after = env.Load.Warmup + env.Load.Duration/2
	}
	select {
	case <-stop:
		return
	case <-time.After(time.Until(start.Add(after))):
	}
	metricsURL := url
	closedBefore := scrapeMetric(metricsURL, `liveplane_ws_closed_total{reason="lagging"}`)
	// A small receive buffer, so the server's queue, not kernel buffers,
	// decides when it counts as lagging.
	small := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: small}}
	conn, _, err := websocket.Dial(ctx, url+"/ws?deviceId="+dev, &websocket.DialOptions{HTTPClient: hc,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + key}}})
	if err != nil {
		extra["slow_error"] = err.Error()
		return
	}
	defer conn.CloseNow()
	joined := time.Now()
	subs.split.Store(joined.UnixNano())
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			extra["slow_closed"] = false
			return
		case <-t.C:
			if scrapeMetric(metricsURL, `liveplane_ws_closed_total{reason="lagging"}`) > closedBefore {
				extra["slow_closed"] = true
				extra["slow_closed_after_s"] = time.Since(joined).Seconds()
				<-stop
				return
			}
		}
	}
}

// streamFleet creates an account with an API key (the subscribers' token)
// and n devices in it.
func streamFleet(ctx context.Context, env Env, n int) (*fleet, string, error) {
	f, err := newFleet(ctx, env, n)
	if err != nil {
		return nil, "", err
	}
	ac := liveplanev1connect.NewAccountServiceClient(NewHTTPClient(1), env.ServerURL, connect.WithInterceptors(bearer(env.Token)))
	k, err := ac.CreateApiKey(ctx, connect.NewRequest(&liveplanev1.CreateApiKeyRequest{
		AccountId: f.devices[0].GetDevice().GetAccountId(), Description: "bench stream subscribers"}))
	if err != nil {
		return nil, "", fmt.Errorf("create the subscribers' API key: %w", err)
	}
	return f, k.Msg.GetSecret(), nil
}

// streamPublisher sends uplinks for fleet devices from index first on,
// one UDP socket per device, and remembers which hot uplinks were acked.
type streamPublisher struct {
	f     *fleet
	first int
	conns []*udpclient.Conn
	mu    sync.Mutex
	acked []bool
	count int
}

func newStreamPublisher(addr string, f *fleet, first, sources int) (*streamPublisher, error) {
	p := &streamPublisher{f: f, first: first}
	n := len(f.devices) - first
	if first == 0 {
		n = 1
	}
	for i := range n {
		src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+(first+i)%max(sources, 1)))}
		cc, err := udp.Dial(addr, options.WithDialer(&net.Dialer{LocalAddr: src}),
			options.WithInactivityMonitor(time.Hour, func(*udpclient.Conn) {}), options.WithErrors(func(error) {}))
		if err != nil {
			p.close()
			return nil, fmt.Errorf("device %d: dial %s: %w", first+i, addr, err)
		}
		p.conns = append(p.conns, cc)
	}
	return p, nil
}

func (p *streamPublisher) close() {
	for _, c := range p.conns {
		c.Close()
	}
}

// send posts device d's next uplink; for the hot device (0) it records the
// uplink number once acknowledged.
func (p *streamPublisher) send(ctx context.Context, d int) error {
	n := p.f.counts[d].Add(1)
	dev := p.f.devices[d]
	body, _ := proto.Marshal(&liveplanev1.Uplink{DeviceId: dev.GetDevice().GetId(), Credential: dev.GetKey(),
		BootCount: p.f.boot, UplinkCount: n, RebootReason: liveplanev1.RebootReason_REBOOT_REASON_POWER_ON,
		Activity:                 &liveplanev1.Activity{SleepSeconds: 3540, ModemSeconds: 42},
		TemperaturesCentiCelsius: []int32{2150}, DeviceTimeUnixMs: time.Now().UnixMilli()})
	resp, err := p.conns[d-p.first].Post(ctx, "/uplink", message.AppOctets, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if resp.Code() != codes.Changed {
		return fmt.Errorf("answer %v", resp.Code())
	}
	if d == 0 {
		p.mu.Lock()
		for int(n) >= len(p.acked) {
			p.acked = append(p.acked, make([]bool, 1024)...)
		}
		p.acked[n] = true
		p.count++
		p.mu.Unlock()
	}
	return nil
}

func (p *streamPublisher) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

func (p *streamPublisher) ackedSet() (func(int) bool, int) {
	p.mu.Lock()
	a := append([]bool(nil), p.acked...)
	p.mu.Unlock()
	return func(n int) bool { return n < len(a) && a[n] }, len(a) - 1
}
