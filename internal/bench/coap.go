package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"regexp"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
	"google.golang.org/protobuf/proto"

	liveplanev1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// CoAP is the coap workload: simulated devices POSTing real protobuf
// uplinks to /uplink, against a bare go-coap echo server in the same run.
type CoAP struct {
	devices  int
	sources  int
	coapAddr string
	echo     bool
	echoBin  string
	// echoServe, when set, makes this process the echo server (see coapecho.go).
	echoServe string
}

var _ Workload = (*CoAP)(nil)

func (*CoAP) Name() string { return "coap" }

func (*CoAP) Help() string {
	return `CoAP uplinks: --devices simulated devices, each a go-coap UDP client on its
own socket, spread over --sources loopback addresses (127.0.0.2...), POST a
real liveplane.v1.Uplink (config, activity, 2 temperatures, 2 wifi scans) to
/uplink as CON requests. Every acknowledged uplink was stored or spooled
(parse + device_config, activity, sensor_data + live-log broadcast).
Then, in the same run and with the same load and devices, a bare go-coap
v3 UDP server answering each POST with 2.04 and the request body, started
like the server under test (pinned, GOMAXPROCS=1).
Extra figures:
  uplinks_acked          2.04 answers, warm-up included
  rows_stored            activity rows counted afterwards over the API
  lost                   uplinks_acked - rows_stored (must be 0)
  bare_echo              the echo's achieved rate and latency
  ratio_to_echo          liveplane achieved ops/s ÷ echo achieved ops/s: capacity
                         in closed loop (--rate 0); 1.0 in open loop when both
                         sustain the rate
  p50_echo_over_liveplane  echo p50 ÷ liveplane p50 (1 = as fast)
  server_cpu_share       CPU seconds the server used ÷ wall seconds (warm-up
                         included); well under 1 with long queues = its core
                         was shared with other processes
Needs --spawn, or --server and --coap-addr of a running server.`
}

func (c *CoAP) Flags(fs *flag.FlagSet) {
	fs.IntVar(&c.devices, "devices", 64, "simulated devices (one UDP socket each)")
	fs.IntVar(&c.sources, "sources", 8, "loopback source addresses 127.0.0.2.. the devices are spread over")
	fs.StringVar(&c.coapAddr, "coap-addr", "", "CoAP address of the server (default: read from the spawned server's log)")
	fs.BoolVar(&c.echo, "echo", true, "also measure the bare go-coap echo server and the ratio to it")
	fs.StringVar(&c.echoServe, "serve-echo", "", "internal: run as the echo server on this `address` until stopped")
}

var coapServingLine = regexp.MustCompile(`msg="liveplane serving" .*coap=(\S+)`)

func (c *CoAP) Run(ctx context.Context, env Env) (Result, error) {
	if c.echoServe != "" {
		return Result{}, serveEcho(ctx, c.echoServe)
	}
	addr := c.coapAddr
	if addr == "" && env.Server != nil {
		if m := coapServingLine.FindStringSubmatch(env.Server.stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		return Result{}, errors.New("no CoAP address: use --spawn or --coap-addr")
	}
	env.Log.Info("creating devices", "n", c.devices)
	fleet, err := newFleet(ctx, env, c.devices)
	if err != nil {
		return Result{}, err
	}
	var acked atomic.Int64
	cpu0 := serverCPUTime(env)
	res, err := c.measure(ctx, env, addr, fleet, func() { acked.Add(1) })
	res.Workload = c.Name()
	if err != nil {
		return res, err
	}
	if cpu1 := serverCPUTime(env); cpu1 > 0 && res.ElapsedSec > 0 {
		// Below ~0.9 with long queues means the server's core was shared
		// (other processes pinned there) or it waited on I/O.
		res.Extra = withExtra(res.Extra, "server_cpu_share", (cpu1-cpu0)/(res.ElapsedSec+res.WarmupSec))
	}
	stored, err := fleet.stored(ctx, env)
	if err != nil {
		return res, err
	}
	res.Extra = withExtra(res.Extra, "uplinks_acked", acked.Load())
	res.Extra["rows_stored"] = stored
	res.Extra["lost"] = acked.Load() - stored
	if !c.echo {
		return res, nil
	}
	echoAddr, stop, err := startEcho(ctx, env)
	if err != nil {
		return res, err
	}
	defer stop()
	env.Log.Info("baseline: bare go-coap echo, same load", "addr", echoAddr)
	b, err := c.measure(ctx, env, echoAddr, fleet, func() {})
	if err != nil {
		return res, fmt.Errorf("echo baseline: %w", err)
	}
	res.Extra["bare_echo"] = b.Summary()
	if b.AchievedRate > 0 {
		res.Extra["ratio_to_echo"] = res.AchievedRate / b.AchievedRate
	}
	if res.Latency.P50 > 0 {
		res.Extra["p50_echo_over_liveplane"] = b.Latency.P50 / res.Latency.P50
	}
	return res, nil
}

// measure runs the load with one go-coap client per device against addr.
func (c *CoAP) measure(ctx context.Context, env Env, addr string, f *fleet, ok func()) (Result, error) {
	conns := make([]*udpclient.Conn, len(f.devices))
	defer func() {
		for _, cc := range conns {
			if cc != nil {
				cc.Close()
			}
		}
	}()
	for i := range conns {
		src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%max(c.sources, 1)))}
		cc, err := udp.Dial(addr, options.WithDialer(&net.Dialer{LocalAddr: src}),
			options.WithInactivityMonitor(time.Hour, func(*udpclient.Conn) {}),
			options.WithErrors(func(error) {}))
		if err != nil {
			return Result{}, fmt.Errorf("device %d: dial %s from %s: %w", i, addr, src.IP, err)
		}
		conns[i] = cc
	}
	return Run(ctx, env.Load, func(ctx context.Context, i int64) error {
		d := i % int64(len(conns))
		body := f.next(int(d))
		resp, err := conns[d].Post(ctx, "/uplink", message.AppOctets, bytes.NewReader(body))
		if err != nil {
			return err
		}
		if resp.Code() != codes.Changed {
			b, _ := resp.ReadBody()
			return fmt.Errorf("answer %v: %s", resp.Code(), b)
		}
		ok()
		return nil
	})
}

// fleet is the simulated devices: ids, keys and per-device uplink counters.
type fleet struct {
	devices []*liveplanev1.CreateDeviceResponse
	counts  []atomic.Uint32
	boot    uint32
}

func newFleet(ctx context.Context, env Env, n int) (*fleet, error) {
	hc := NewHTTPClient(8)
	auth := connect.WithInterceptors(bearer(env.Token))
	acc, err := liveplanev1connect.NewAccountServiceClient(hc, env.ServerURL, auth).CreateAccount(ctx,
		connect.NewRequest(&liveplanev1.CreateAccountRequest{Name: namePrefix() + "-coap"}))
	if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	dc := liveplanev1connect.NewDeviceServiceClient(hc, env.ServerURL, auth)
	f := &fleet{devices: make([]*liveplanev1.CreateDeviceResponse, n), counts: make([]atomic.Uint32, n),
		boot: uint32(time.Now().Unix())}
	for i := range f.devices {
		res, err := dc.CreateDevice(ctx, connect.NewRequest(&liveplanev1.CreateDeviceRequest{
			AccountId: acc.Msg.GetAccount().GetId(), Name: fmt.Sprintf("sim-%05d", i)}))
		if err != nil {
			return nil, fmt.Errorf("create device %d: %w", i, err)
		}
		f.devices[i] = res.Msg
	}
	return f, nil
}

// next encodes device d's next uplink (about 200 bytes).
func (f *fleet) next(d int) []byte {
	n := f.counts[d].Add(1)
	dev := f.devices[d]
	b, _ := proto.Marshal(&liveplanev1.Uplink{
		DeviceId: dev.GetDevice().GetId(), Credential: dev.GetKey(), BootCount: f.boot, UplinkCount: n,
		RebootReason:             liveplanev1.RebootReason_REBOOT_REASON_POWER_ON,
		Config:                   map[string]string{"INTERVAL": "3600", "MODE": "eco"},
		Activity:                 &liveplanev1.Activity{SleepSeconds: 3540, ModemSeconds: 42, GnssSeconds: 9, WifiSeconds: 3, OtherSeconds: 6},
		TemperaturesCentiCelsius: []int32{2150, 2162},
		WifiScans: []*liveplanev1.WifiScan{
			{Bssid: []byte{0xaa, 0xbb, 0xcc, 0, 0, byte(d)}, RssiDbm: -61},
			{Bssid: []byte{0xaa, 0xbb, 0xcc, 0, 1, byte(d)}, RssiDbm: -77},
		},
		FirmwareVersion: "1.4.2", HardwareVersion: "rev-c", DeviceTimeUnixMs: time.Now().UnixMilli(),
	})
	return b
}

// stored counts activity rows (one per stored uplink) of the fleet's current
// boot over the API.
func (f *fleet) stored(ctx context.Context, env Env) (int64, error) {
	dc := liveplanev1connect.NewDeviceServiceClient(NewHTTPClient(4), env.ServerURL, connect.WithInterceptors(bearer(env.Token)))
	var total int64
	for _, d := range f.devices {
		tok := ""
		for {
			res, err := dc.ListActivity(ctx, connect.NewRequest(&liveplanev1.ListActivityRequest{
				DeviceId: d.GetDevice().GetId(), PageSize: 1000, PageToken: tok}))
			if err != nil {
				return 0, fmt.Errorf("count rows: %w", err)
			}
			for _, r := range res.Msg.GetRecords() {
				if r.GetBootCount() == f.boot {
					total++
				}
			}
			if tok = res.Msg.GetNextPageToken(); tok == "" {
				break
			}
		}
	}
	return total, nil
}
