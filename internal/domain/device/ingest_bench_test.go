package device

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// The per-uplink work of the domain, without a database: authenticate
// (cached device), validate, the live-log line, the reply cache, and
// reconciliation for a device in sync (the common case).

const benchDevice = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

// benchConfig is a realistic report: 20 environment variables.
func benchConfig() map[string]string {
	cfg := make(map[string]string, 20)
	for i := range 20 {
		cfg[fmt.Sprintf("LP_SETTING_%02d", i)] = fmt.Sprintf("value-%d-%s", i, "abcdefgh"[:i%8+1])
	}
	return cfg
}

func benchUplink(n uint32) Uplink {
	return Uplink{
		DeviceID: benchDevice, Credential: "lpd_bench-key", BootCount: 3, RebootReason: RebootPowerOn, UplinkCount: n,
		Config: benchConfig(), Ack: ConfigAck{AppliedVersion: 4},
		Activity:     Activity{Sleep: 3000, Modem: 12, GNSS: 3, WiFi: 2, Other: 1},
		Temperatures: []int32{2150, -375},
		WifiScans:    []WifiScan{{BSSID: [6]byte{0xaa, 1, 2, 3, 4, 5}, RSSIdBm: -67}, {BSSID: [6]byte{0xbb, 6, 7, 8, 9, 10}, RSSIdBm: -80}},
		Firmware:     "1.2.3", Hardware: "rev-b", DeviceTimeMs: 1_700_000_000_000,
	}
}

// benchStore answers what ingestion reads: the device and its twin (in
// sync with benchConfig: 16 keys desired, 4 from the account's defaults).
type benchStore struct {
	Store
	d   Device
	t   Twin
	def Defaults
}

func newBenchStore() *benchStore {
	now := time.Unix(1_800_000_000, 0)
	s := &benchStore{d: Device{ID: benchDevice, AccountID: "acct", KeyHash: HashKey("lpd_bench-key")}}
	s.def = Defaults{AccountID: "acct", Version: 2, Values: Values{}}
	s.t = Twin{DeviceID: benchDevice, AccountID: "acct", Version: 2, Desired: Values{}, Reported: Values{},
		Seen: true, LastBoot: 3, LastUplink: 1, AckedVersion: 4, SentVersion: 4}
	i := 0
	for k, v := range benchConfig() {
		if i < 4 {
			s.def.Values[k] = Entry{Value: v, UpdatedAt: now}
		} else {
			s.t.Desired[k] = Entry{Value: v, UpdatedAt: now}
		}
		s.t.Reported[k] = Entry{Value: v, UpdatedAt: now}
		i++
	}
	return s
}

func (s *benchStore) Device(context.Context, string) (Device, error) { return s.d, nil }

// TwinConfig returns the same maps every time: a device in sync changes
// nothing, so nothing writes to them.
func (s *benchStore) TwinConfig(context.Context, string) (Twin, Defaults, error) {
	return s.t, s.def, nil
}

type benchWriter struct{}

func (benchWriter) Write(context.Context, Record) error { return nil }

func BenchmarkIngest(b *testing.B) {
	s := NewService(newBenchStore(), domain.SystemClock{}, Options{Writer: benchWriter{}})
	ctx := context.Background()
	ups := make([]Uplink, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(ups) == 0 { // built outside the timer: the CoAP decode makes them
			b.StopTimer()
			for j := range ups {
				ups[j] = benchUplink(uint32(2 + i + j))
			}
			b.StartTimer()
		}
		dl, err := s.Ingest(ctx, ups[i%len(ups)])
		if err != nil || dl.UpdateConfig != nil {
			b.Fatal(dl, err)
		}
	}
}

// BenchmarkUplinkLineJSON is the live-log line of an uplink, built and
// encoded as the bus publisher stores it (into a pooled buffer).
func BenchmarkUplinkLineJSON(b *testing.B) {
	u := benchUplink(7)
	u.Credential = ""
	now := time.Unix(1_800_000_000, 123456789).UTC()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = uplinkLine(u, now).AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
