package e2e

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"google.golang.org/protobuf/proto"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// TestCoAPServeKilledLosesNoAcknowledgedUplink SIGKILLs serve on its SQLite
// default while uplinks stream in, after its first indexing round (the
// newest uplinks are then stored but not yet in the per-device indexes, and
// their keys only in the killed process's memory). Restarted on the same
// data dir, it gets every uplink again, acknowledged or not, as devices
// retry: each is stored exactly once, with its sensor rows, and the reads
// page through all of them.
func TestCoAPServeKilledLosesNoAcknowledgedUplink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServe(t, dir, nil)
	coapAddr, _ := s.coapAddrs(t)
	dev := s.newDevice(t)
	id := dev.GetDevice().GetId()
	body := func(n int) []byte {
		b, _ := proto.Marshal(&lpv1.Uplink{DeviceId: id, Credential: dev.GetKey(), BootCount: 1, UplinkCount: uint32(n),
			TemperaturesCentiCelsius: []int32{int32(n), -int32(n)}})
		return b
	}
	// send posts uplinks next(), next(), ... from one socket per worker until
	// stop, and records which were acknowledged.
	var acked sync.Map
	send := func(addr string, workers int, next func() (int, bool), stop *atomic.Bool) {
		to, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range workers {
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				defer conn.Close()
				for !stop.Load() {
					n, ok := next()
					if !ok {
						return
					}
					resp, err := exchangeUplink(conn, to, int32(n), body(n), 1)
					if err == nil && resp.Code == codes.Changed {
						acked.Store(n, true)
					}
				}
			})
		}
		wg.Wait()
	}

	// Phase 1: uplinks for 6 s (an indexing round runs every 4 s), then kill -9.
	var last atomic.Int64
	var stop atomic.Bool
	time.AfterFunc(6*time.Second, func() {
		stop.Store(true)
		_ = s.cmd.Process.Kill()
	})
	send(coapAddr, 8, func() (int, bool) { return int(last.Add(1)), true }, &stop)
	s.waitExit(t, 10*time.Second)
	sent := int(last.Load())
	nAcked := 0
	acked.Range(func(any, any) bool { nAcked++; return true })
	if nAcked < 500 {
		t.Fatalf("only %d uplinks acknowledged before the kill: the test proves little", nAcked)
	}

	// Phase 2: serve again on the same data; every uplink is sent again.
	s = startServe(t, dir, nil)
	coapAddr, _ = s.coapAddrs(t)
	var again atomic.Int64
	var never atomic.Bool
	send(coapAddr, 8, func() (int, bool) { n := int(again.Add(1)); return n, n <= sent }, &never)
	for n := 1; n <= sent; n++ {
		if _, ok := acked.Load(n); !ok {
			t.Fatalf("uplink %d not acknowledged after the restart", n)
		}
	}

	// Each uplink once, in the reads' order, with its two sensor rows.
	ctx := context.Background()
	seen := map[uint32]bool{}
	token := ""
	for {
		res, err := s.devices().ListActivity(ctx, connect.NewRequest(&lpv1.ListActivityRequest{DeviceId: id, PageSize: 1000, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Msg.GetRecords() {
			if seen[r.GetUplinkCount()] {
				t.Fatalf("uplink %d stored twice", r.GetUplinkCount())
			}
			seen[r.GetUplinkCount()] = true
		}
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(seen) != sent {
		t.Fatalf("%d uplinks stored, %d sent (%d acknowledged before the kill)", len(seen), sent, nAcked)
	}
	readings := 0
	token = ""
	for {
		res, err := s.devices().ListSensorData(ctx, connect.NewRequest(&lpv1.ListSensorDataRequest{DeviceId: id, PageSize: 1000, PageToken: token}))
		if err != nil {
			t.Fatal(err)
		}
		readings += len(res.Msg.GetReadings())
		if token = res.Msg.GetNextPageToken(); token == "" {
			break
		}
	}
	if readings != 2*sent {
		t.Fatalf("%d sensor readings, want %d", readings, 2*sent)
	}
	t.Logf("%d uplinks sent before the kill, %d of them acknowledged; all stored once after the restart", sent, nAcked)
}
