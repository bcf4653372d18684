package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpclient "github.com/plgd-dev/go-coap/v3/udp/client"
	"google.golang.org/protobuf/proto"

	liveplanev1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// Enrol is the enrol workload: unknown devices enrolling with a
// provisioning key, each first uplink sent several times at once.
type Enrol struct {
	devices  int
	copies   int
	sockets  int
	sources  int
	coapAddr string
}

var _ Workload = (*Enrol)(nil)

func (*Enrol) Name() string { return "enrol" }

func (*Enrol) Help() string {
	return `Fleet enrolment: --devices unknown devices, started open loop at --rate
devices/s, each send its first uplink (a provisioning key instead of a
credential, 4 config keys) --copies times at once from different UDP
sockets (retransmissions, NAT rebinding, a second replica). Every copy must
get 2.04 with the same device key, and exactly --devices devices must exist
afterwards.
Figures:
  latency                every copy, from its device's intended start to its
                         2.04 (open loop: stalls count in full)
  extra.per_device       per device, until its last copy was answered
  extra.devices_created  counted over the API afterwards (must equal --devices)
  extra.key_uses         the provisioning key's use count (must equal --devices)
  extra.key_mismatch     devices whose copies got different keys (must be 0)
--duration is ignored: the run ends when every device was answered.
Needs --spawn, or --server and --coap-addr of a running server.`
}

func (e *Enrol) Flags(fs *flag.FlagSet) {
	fs.IntVar(&e.devices, "devices", 10000, "unknown devices that enrol")
	fs.IntVar(&e.copies, "copies", 3, "copies of each first uplink, sent at once from different sockets")
	fs.IntVar(&e.sockets, "sockets", 192, "UDP client sockets the copies are spread over")
	fs.IntVar(&e.sources, "sources", 8, "loopback source addresses 127.0.0.2.. the sockets are spread over")
	fs.StringVar(&e.coapAddr, "coap-addr", "", "CoAP address of the server (default: read from the spawned server's log)")
}

func (e *Enrol) Run(ctx context.Context, env Env) (Result, error) {
	addr := e.coapAddr
	if addr == "" && env.Server != nil {
		if m := coapServingLine.FindStringSubmatch(env.Server.stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		return Result{}, errors.New("no CoAP address: use --spawn or --coap-addr")
	}
	if e.devices < 1 || e.copies < 1 || e.sockets < e.copies {
		return Result{}, errors.New("need --devices >= 1, --copies >= 1 and --sockets >= --copies")
	}
	rate := env.Load.Rate
	if rate <= 0 {
		rate = 1000
	}
	hc := NewHTTPClient(8)
	auth := connect.WithInterceptors(bearer(env.Token))
	acc, err := liveplanev1connect.NewAccountServiceClient(hc, env.ServerURL, auth).CreateAccount(ctx,
		connect.NewRequest(&liveplanev1.CreateAccountRequest{Name: namePrefix() + "-enrol"}))
	if err != nil {
		return Result{}, fmt.Errorf("create account: %w", err)
	}
	accID := acc.Msg.GetAccount().GetId()
	keys := liveplanev1connect.NewProvisioningKeyServiceClient(hc, env.ServerURL, auth)
	pk, err := keys.CreateProvisioningKey(ctx, connect.NewRequest(&liveplanev1.CreateProvisioningKeyRequest{
		AccountId: accID, Description: "bench enrol"}))
	if err != nil {
		return Result{}, fmt.Errorf("create provisioning key: %w", err)
	}
	conns := make([]*udpclient.Conn, e.sockets)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range conns {
		src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%max(e.sources, 1)))}
		if conns[i], err = udp.Dial(addr, options.WithDialer(&net.Dialer{LocalAddr: src}),
			options.WithInactivityMonitor(time.Hour, func(*udpclient.Conn) {}),
			options.WithErrors(func(error) {})); err != nil {
			return Result{}, fmt.Errorf("dial %s from %s: %w", addr, src.IP, err)
		}
	}

	env.Log.Info("enrolling", "devices", e.devices, "copies", e.copies, "rate", rate)
	all, perDevice := newHistogram(), newHistogram()
	var mu sync.Mutex
	var ok, failed, mismatch atomic.Int64
	errs := map[string]int64{}
	slots := make(chan struct{}, max(env.Load.MaxInFlight, DefaultMaxInFlight))
	var wg sync.WaitGroup
	cpu0 := serverCPUTime(env)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for d := 0; d < e.devices; d++ {
		intended := start.Add(time.Duration(d) * interval)
		if wait := time.Until(intended); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return Result{}, ctx.Err()
			}
		}
		body, err := proto.Marshal(&liveplanev1.Uplink{
			DeviceId: uuid.NewString(), ProvisioningKey: pk.Msg.GetSecret(), BootCount: 1, UplinkCount: 1,
			RebootReason:    liveplanev1.RebootReason_REBOOT_REASON_POWER_ON,
			Config:          map[string]string{"INTERVAL": "3600", "MODE": "eco", "APN": "iot.example", "LOG": "info"},
			FirmwareVersion: "1.4.2", HardwareVersion: "rev-c",
		})
		if err != nil {
			return Result{}, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := make([]string, e.copies)
			var cwg sync.WaitGroup
			for c := 0; c < e.copies; c++ {
				cwg.Add(1)
				go func() {
					defer cwg.Done()
					slots <- struct{}{}
					defer func() { <-slots }()
					conn := conns[(d*e.copies+c)%len(conns)]
					rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					resp, err := conn.Post(rctx, "/uplink", message.AppOctets, bytes.NewReader(body))
					lat := time.Since(intended)
					if err == nil && resp.Code() != codes.Changed {
						b, _ := resp.ReadBody()
						err = fmt.Errorf("answer %v: %s", resp.Code(), b)
					}
					var dl liveplanev1.Downlink
					if err == nil {
						b, rerr := resp.ReadBody()
						if rerr == nil {
							rerr = proto.Unmarshal(b, &dl)
						}
						if err = rerr; err == nil && dl.GetDeviceKey() == "" {
							err = errors.New("no device key in the reply")
						}
					}
					mu.Lock()
					recordLatency(all, lat)
					if err != nil {
						errs[err.Error()]++
					}
					mu.Unlock()
					if err != nil {
						failed.Add(1)
						return
					}
					ok.Add(1)
					got[c] = dl.GetDeviceKey()
				}()
			}
			cwg.Wait()
			for _, k := range got[1:] {
				if k != "" && got[0] != "" && k != got[0] {
					mismatch.Add(1)
					break
				}
			}
			mu.Lock()
			recordLatency(perDevice, time.Since(intended))
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := Result{
		Workload: e.Name(), Mode: OpenLoop, Start: start.UTC().Truncate(time.Second), IntendedRate: rate * float64(e.copies),
		Concurrency: DefaultMaxInFlight, DurationSec: float64(e.devices) / rate, ElapsedSec: elapsed.Seconds(),
		AchievedRate: float64(ok.Load()) / elapsed.Seconds(), OK: ok.Load(), Errors: failed.Load(),
		Latency: summarise(all),
	}
	res.setHistogram(all)
	for msg, n := range errs {
		res.ErrorSamples = append(res.ErrorSamples, ErrorSample{Error: msg, Count: n})
	}
	created, err := countDevices(ctx, env, accID)
	if err != nil {
		return res, err
	}
	list, err := keys.ListProvisioningKeys(ctx, connect.NewRequest(&liveplanev1.ListProvisioningKeysRequest{AccountId: accID}))
	if err != nil {
		return res, fmt.Errorf("list provisioning keys: %w", err)
	}
	res.Extra = map[string]any{
		"devices": e.devices, "copies": e.copies, "devices_created": created,
		"key_uses": list.Msg.GetKeys()[0].GetUses(), "key_mismatch": mismatch.Load(),
		"per_device": summarise(perDevice),
	}
	if cpu1 := serverCPUTime(env); cpu1 > 0 {
		res.Extra["server_cpu_share"] = (cpu1 - cpu0) / elapsed.Seconds()
	}
	if created != int64(e.devices) {
		return res, fmt.Errorf("%d devices created, want %d", created, e.devices)
	}
	return res, nil
}

func countDevices(ctx context.Context, env Env, accountID string) (int64, error) {
	dc := liveplanev1connect.NewDeviceServiceClient(NewHTTPClient(2), env.ServerURL, connect.WithInterceptors(bearer(env.Token)))
	var n int64
	tok := ""
	for {
		res, err := dc.ListDevices(ctx, connect.NewRequest(&liveplanev1.ListDevicesRequest{AccountId: accountID, PageSize: 500, PageToken: tok}))
		if err != nil {
			return 0, fmt.Errorf("count devices: %w", err)
		}
		n += int64(len(res.Msg.GetDevices()))
		if tok = res.Msg.GetNextPageToken(); tok == "" {
			return n, nil
		}
	}
}
