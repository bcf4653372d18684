package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

// lines records live-log lines (the bus adapter has its own test on NATS).
type lines struct {
	mu  sync.Mutex
	got []device.Line
}

func (l *lines) Publish(_ string, line device.Line) {
	l.mu.Lock()
	l.got = append(l.got, line)
	l.mu.Unlock()
}

func (l *lines) all() []device.Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]device.Line(nil), l.got...)
}

type fixture struct {
	store   *sqlstore.Store
	devices *device.Service
	live    *lines
	writer  *sqlstore.UplinkWriter
	account account.Created
}

func newFixture(t *testing.T, s *sqlstore.Store, spool *sqlstore.Spool) *fixture {
	t.Helper()
	f := &fixture{store: s, live: &lines{}}
	f.writer = s.NewUplinkWriter(sqlstore.UplinkWriterOptions{Spool: spool})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.writer.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	f.devices = device.NewService(s.Devices(), domain.SystemClock{}, device.Options{Writer: f.writer, LiveLog: f.live})
	var err error
	f.account, err = service(s).Create(admin, account.CreateInput{Name: "fleet", WithAPIKey: true})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func uplink(c device.Created, boot, n uint32) device.Uplink {
	return device.Uplink{
		DeviceID: c.Device.ID, Credential: c.Key, BootCount: boot, UplinkCount: n,
		RebootReason: device.RebootPowerOn, Config: map[string]string{"INTERVAL": fmt.Sprint(60 + n)},
		Activity:     device.Activity{Sleep: 3000, Modem: 12, GNSS: 3, WiFi: 2, Other: 1},
		Temperatures: []int32{2150, -375},
		WifiScans:    []device.WifiScan{{BSSID: [6]byte{0xaa, 1, 2, 3, 4, 5}, RSSIdBm: -67}},
		Firmware:     "1.2.3", Hardware: "rev-b", DeviceTimeMs: 1_700_000_000_000,
	}
}

func TestDeviceLifecycle(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		f := newFixture(t, s, nil)
		c, err := f.devices.Create(admin, f.account.Account.ID, "meter-1")
		if err != nil || c.Key == "" || c.PSK == "" || c.Device.KeyHash != "" {
			t.Fatalf("create: %+v %v", c, err)
		}
		if _, err := f.devices.Create(admin, f.account.Account.ID, "meter-1"); !domain.Is(err, domain.CodeConflict) {
			t.Fatalf("duplicate name: %v", err)
		}
		if _, err := f.devices.Create(admin, domain.NewID(), "x"); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("unknown account: %v", err)
		}
		// The account's own key sees it; another account's key does not.
		own := account.WithPrincipal(context.Background(), account.Principal{AccountID: f.account.Account.ID})
		other := account.WithPrincipal(context.Background(), account.Principal{AccountID: domain.NewID()})
		if got, err := f.devices.Get(own, c.Device.ID); err != nil || got.Name != "meter-1" {
			t.Fatalf("get own: %+v %v", got, err)
		}
		if _, err := f.devices.Get(other, c.Device.ID); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("get other's: %v", err)
		}
		// The PSK is derived, so asking again gives the same bytes.
		psk, err := f.devices.PSK(context.Background(), c.Device.ID)
		if err != nil || string(psk) != c.PSK {
			t.Fatalf("psk: %q %v, want %q", psk, err, c.PSK)
		}
		for i := 0; i < 6; i++ {
			if _, err := f.devices.Create(own, f.account.Account.ID, fmt.Sprintf("m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		seen, tok := map[string]bool{}, ""
		for {
			list, next, err := f.devices.List(own, "", 3, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range list {
				seen[d.ID] = true
			}
			if tok = next; tok == "" {
				break
			}
		}
		if len(seen) != 7 {
			t.Fatalf("listed %d devices, want 7", len(seen))
		}
		if _, err := f.devices.Ingest(context.Background(), uplink(c, 1, 1)); err != nil {
			t.Fatalf("ingest: %v", err)
		}
		d, err := f.devices.Disable(admin, c.Device.ID)
		if err != nil || !d.Disabled || d.Generation != 2 {
			t.Fatalf("disable: %+v %v", d, err)
		}
		if _, err := f.devices.Ingest(context.Background(), uplink(c, 1, 2)); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("uplink of a disabled device: %v", err)
		}
		if _, err := f.devices.PSK(context.Background(), c.Device.ID); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("psk of a disabled device: %v", err)
		}
		if err := f.devices.Delete(admin, c.Device.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.devices.Get(admin, c.Device.ID); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("get deleted: %v", err)
		}
		if recs, err := s.Devices().Activity(context.Background(), c.Device.ID, device.Query{Limit: 10}); err != nil || len(recs) != 0 {
			t.Fatalf("activity of a deleted device: %d %v", len(recs), err)
		}
	})
}

func TestIngestStoresOneRowSetPerUplink(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		f := newFixture(t, s, nil)
		c, err := f.devices.Create(admin, f.account.Account.ID, "meter")
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// Each uplink three times, concurrently (retransmissions, NAT rebinding).
		var wg sync.WaitGroup
		for n := uint32(1); n <= 20; n++ {
			for copy := 0; copy < 3; copy++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := f.devices.Ingest(ctx, uplink(c, 1, n)); err != nil {
						t.Errorf("ingest %d: %v", n, err)
					}
				}()
			}
		}
		wg.Wait()
		acts, next, err := f.devices.Activity(admin, c.Device.ID, device.Range{PageSize: 1000})
		if err != nil || len(acts) != 20 || next != "" {
			t.Fatalf("activity: %d rows, next %q, %v; want 20", len(acts), next, err)
		}
		if a := acts[0]; a.Activity.Sleep != 3000 || a.RebootReason != device.RebootPowerOn || a.DeviceTimeMs != 1_700_000_000_000 {
			t.Fatalf("activity row %+v", a)
		}
		// Pages of 7 over the sensor rows (2 temperatures + 1 scan per uplink).
		var readings []device.SensorReading
		tok := ""
		for {
			page, next, err := f.devices.SensorData(admin, c.Device.ID, device.Range{PageSize: 7, PageToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			readings = append(readings, page...)
			if tok = next; tok == "" {
				break
			}
		}
		if len(readings) != 60 {
			t.Fatalf("%d sensor rows, want 60", len(readings))
		}
		if r := readings[0]; r.CentiCelsius != 2150 || readings[1].CentiCelsius != -375 ||
			readings[2].Wifi == nil || readings[2].Wifi.RSSIdBm != -67 || readings[2].Wifi.BSSID[0] != 0xaa {
			t.Fatalf("readings %+v %+v %+v", readings[0], readings[1], readings[2])
		}
		if n := len(f.live.all()); n != 20 {
			t.Fatalf("%d live-log lines, want one per distinct uplink (20)", n)
		}
		rep, err := f.devices.Reported(admin, c.Device.ID)
		if err != nil || rep.Firmware != "1.2.3" || len(rep.Config) != 1 {
			t.Fatalf("reported: %+v %v", rep, err)
		}
		// A time range that excludes everything.
		if list, _, err := f.devices.Activity(admin, c.Device.ID, device.Range{Since: time.Now().Add(time.Hour)}); err != nil || len(list) != 0 {
			t.Fatalf("future range: %d %v", len(list), err)
		}
	})
}

func TestIngestRejectsBadInput(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		f := newFixture(t, s, nil)
		c, err := f.devices.Create(admin, f.account.Account.ID, "meter")
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		bad := uplink(c, 1, 1)
		bad.Credential = "lpd_wrong"
		if _, err := f.devices.Ingest(ctx, bad); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("wrong key: %v", err)
		}
		unknown := uplink(c, 1, 1)
		unknown.DeviceID = domain.NewID()
		if _, err := f.devices.Ingest(ctx, unknown); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("unknown device: %v", err)
		}
		hot := uplink(c, 1, 1)
		hot.Temperatures = []int32{99999}
		if _, err := f.devices.Ingest(ctx, hot); !domain.Is(err, domain.CodeInvalid) {
			t.Fatalf("out of range: %v", err)
		}
		// DTLS: the PSK identity authenticates; it must match the uplink.
		viaDTLS := uplink(c, 1, 2)
		viaDTLS.Credential = ""
		if _, err := f.devices.Ingest(device.WithPSKIdentity(ctx, domain.NewID()), viaDTLS); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("dtls identity mismatch: %v", err)
		}
		if _, err := f.devices.Ingest(device.WithPSKIdentity(ctx, c.Device.ID), viaDTLS); err != nil {
			t.Fatalf("dtls: %v", err)
		}
		acts, _, _ := f.devices.Activity(admin, c.Device.ID, device.Range{})
		if len(acts) != 1 {
			t.Fatalf("%d rows stored, want only the valid DTLS uplink", len(acts))
		}
		l := f.live.all()
		if len(l) != 2 || l[0].Type != "error" || l[1].Type != "uplink" {
			t.Fatalf("live log %+v, want the error line of the authenticated bad uplink, then the uplink", l)
		}
	})
}

// TestSpoolWhileDatabaseDown points the writer at a closed store: uplinks
// are acknowledged into the spool; reopened on a working database, the
// spool is applied once.
func TestSpoolReplaysIntoDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lp.db")
	s := open(t, sqlstore.Options{SQLitePath: path})
	sp, err := sqlstore.OpenSpool(filepath.Join(dir, "spool"), sqlstore.SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, s, sp)
	c, err := f.devices.Create(admin, f.account.Account.ID, "meter")
	if err != nil {
		t.Fatal(err)
	}
	recs := []device.Record{}
	for n := uint32(1); n <= 700; n++ {
		recs = append(recs, device.Record{Uplink: uplink(c, 2, n), ReceivedAt: time.Now().UTC()})
	}
	if err := sp.Append(recs[:400]); err != nil {
		t.Fatal(err)
	}
	if err := sp.Append(recs[300:]); err != nil { // overlapping: replays must dedupe
		t.Fatal(err)
	}
	if sp.Depth() != 800 {
		t.Fatalf("depth %d", sp.Depth())
	}
	deadline := time.Now().Add(10 * time.Second)
	for sp.Depth() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	acts, _, err := f.devices.Activity(admin, c.Device.ID, device.Range{PageSize: 1000})
	if err != nil || len(acts) != 700 || sp.Depth() != 0 {
		t.Fatalf("after replay: %d rows (want 700), depth %d, %v", len(acts), sp.Depth(), err)
	}
}
