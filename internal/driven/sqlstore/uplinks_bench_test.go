package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// Benchmarks of the store's per-uplink work on both engines (PostgreSQL
// with LIVEPLANE_TEST_POSTGRES set): the batch write and the twin read.
// Allocation figures are the point; ns/op on PostgreSQL includes the round
// trips to a server on the same machine.

func benchEngines(b *testing.B, run func(b *testing.B, s *Store)) {
	b.Run("sqlite", func(b *testing.B) {
		run(b, benchOpen(b, Options{SQLitePath: filepath.Join(b.TempDir(), "lp.db")}))
	})
	b.Run("postgres", func(b *testing.B) {
		run(b, benchOpen(b, Options{URL: pgtest.New(b)}))
	})
}

func benchOpen(b *testing.B, o Options) *Store {
	s, err := Open(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchConfig(n int) map[string]string {
	cfg := make(map[string]string, n)
	for i := range n {
		cfg[fmt.Sprintf("LP_SETTING_%02d", i)] = fmt.Sprintf("value-%d-%s", i, "abcdefgh"[:i%8+1])
	}
	return cfg
}

func benchDeviceID(i int) string { return fmt.Sprintf("0190a1b2-c3d4-7e5f-8a9b-%012d", i) }

// benchRecord is what bench coap sends: 20 config keys, 2 temperatures, 2
// wifi scans.
func benchRecord(dev, n int, at time.Time) device.Record {
	return device.Record{ReceivedAt: at, Uplink: device.Uplink{
		DeviceID: benchDeviceID(dev), BootCount: 1, RebootReason: device.RebootPowerOn, UplinkCount: uint32(n),
		Config: benchConfig(20), Ack: device.ConfigAck{AppliedVersion: 4},
		Activity:     device.Activity{Sleep: 3000, Modem: 12, GNSS: 3, WiFi: 2, Other: 1},
		Temperatures: []int32{2150, -375},
		WifiScans: []device.WifiScan{{BSSID: [6]byte{0xaa, 1, 2, 3, 4, 5}, RSSIdBm: -67},
			{BSSID: [6]byte{0xbb, 6, 7, 8, 9, 10}, RSSIdBm: -80}},
		Firmware: "1.2.3", Hardware: "rev-b", DeviceTimeMs: 1_700_000_000_000,
	}}
}

// BenchmarkInsertUplinks writes batches of new uplinks of 1,000 devices in
// turn: 256 (the writer's batch when the database falls behind) and 2 (its
// usual batch at 5,000 uplinks/s, one commit each); per-uplink figures are
// ns/op divided by the batch.
func BenchmarkInsertUplinks(b *testing.B) {
	for _, batch := range []int{2, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			benchEngines(b, func(b *testing.B, s *Store) {
				ctx := context.Background()
				recs := make([]device.Record, batch)
				base := time.Unix(1_800_000_000, 0)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					for j := range recs {
						n := i*batch + j
						recs[j] = benchRecord(n%1000, n/1000+1, base.Add(time.Duration(n)*time.Microsecond))
					}
					b.StartTimer()
					if err := s.writeUplinks(ctx, recs); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkTwinConfig is the per-uplink twin read of reconciliation: 16
// desired and 20 reported keys, 4 account defaults.
func BenchmarkTwinConfig(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		ctx := context.Background()
		now := time.Unix(1_800_000_000, 0)
		tw, def := benchTwin(benchDeviceID(1), now)
		if err := s.update(ctx, func(t *Tx) error {
			if err := t.PutDefaults(ctx, def); err != nil {
				return err
			}
			return t.PutTwin(ctx, tw)
		}); err != nil {
			b.Fatal(err)
		}
		st := s.Devices()
		loop := func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, _, err := st.TwinConfig(ctx, tw.DeviceID)
				if err != nil || len(got.Reported) != 20 {
					b.Fatal(len(got.Reported), err)
				}
			}
		}
		if s.twinCache == nil {
			loop(b)
			return
		}
		// SQLite: a hit of the twin cache, and the query it saves.
		b.Run("cached", loop)
		c := s.twinCache
		s.twinCache = nil
		defer func() { s.twinCache = c }()
		b.Run("query", loop)
	})
}

func benchTwin(id string, now time.Time) (device.Twin, device.Defaults) {
	tw := device.Twin{DeviceID: id, AccountID: "acct", Version: 2, Desired: device.Values{}, Reported: device.Values{},
		Seen: true, LastBoot: 1, LastUplink: 9, AckedVersion: 4, SentVersion: 4, UpdatedAt: now}
	def := device.Defaults{AccountID: "acct", Version: 2, Values: device.Values{}, UpdatedAt: now}
	i := 0
	for k, v := range benchConfig(20) {
		if i < 4 {
			def.Values[k] = device.Entry{Value: v, UpdatedAt: now}
		} else {
			tw.Desired[k] = device.Entry{Value: v, UpdatedAt: now}
		}
		tw.Reported[k] = device.Entry{Value: v, UpdatedAt: now}
		i++
	}
	return tw, def
}

// BenchmarkDecodeValues is the decode of one configuration document.
func BenchmarkDecodeValues(b *testing.B) {
	tw, _ := benchTwin(benchDeviceID(1), time.Unix(1_800_000_000, 123456000))
	doc := encodeValues(tw.Reported)
	b.ReportAllocs()
	for b.Loop() {
		if v, err := decodeValues(doc); err != nil || len(v) != 20 {
			b.Fatal(err)
		}
	}
}

// BenchmarkPickupAddOne is addMessage's store work when each add commits
// alone (most of the pickup's group commits at 10,000 adds/s hold one): one
// 1 KiB message to one of 16 connections, under a cancellable context as a
// gateway call has.
func BenchmarkPickupAddOne(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *Store) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		st := s.Pickup()
		now := time.Unix(1_800_000_000, 0)
		ap := pickup.AddParams{Now: now, Limits: pickup.Limits{MaxMessages: 1 << 30, MaxBytes: 1 << 40},
			AckDeadline: now.Add(30 * time.Second), PushWindow: 10 * time.Second}
		payload := bytes.Repeat([]byte("x"), 1024)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m := pickup.NewMessage{Message: pickup.Message{ID: domain.NewID(), Account: "acct",
				ConnectionID: fmt.Sprintf("conn-%d", i%16), RecipientDIDs: []string{"did:example:r"}, Payload: payload, ReceivedAt: now}}
			if _, err := st.AddMessages(ctx, ap, []pickup.NewMessage{m}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
