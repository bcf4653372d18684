package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/testinfra/promtest"
)

// dbTwin reads a twin the way a freshly started process would: through a
// second store on the same file, whose cache is empty.
func dbTwin(t *testing.T, path, id string) (device.Twin, device.Defaults, error) {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Devices().TwinConfig(context.Background(), id)
}

// In the steady state (a device in sync), SQLite answers the uplink's twin
// read from the cache: no twin row is read.
func TestTwinCacheSteadyStateReadsNoRows(t *testing.T) {
	reg := prometheus.NewRegistry()
	path := filepath.Join(t.TempDir(), "lp.db")
	s := open(t, sqlstore.Options{SQLitePath: path, Registerer: reg})
	f := newFixture(t, s, nil)
	c, err := f.devices.Create(admin, f.account.Account.ID, "meter")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for n := uint32(1); n <= 20; n++ {
		up := uplink(c, 1, n)
		up.Config = map[string]string{"INTERVAL": "60"}
		if _, err := f.devices.Ingest(ctx, up); err != nil {
			t.Fatal(err)
		}
	}
	hits, misses := promtest.Counter(t, reg, "liveplane_twin_cache_hits_total"), promtest.Counter(t, reg, "liveplane_twin_cache_misses_total")
	// The first uplink reads the account's defaults once; every later one
	// is a hit.
	if misses > 1 || hits < 19 {
		t.Fatalf("twin reads: %v hits, %v misses; want >= 19 and <= 1", hits, misses)
	}
	got, gotDef, err := s.Devices().TwinConfig(ctx, c.Device.ID)
	if err != nil {
		t.Fatal(err)
	}
	want, wantDef, err := dbTwin(t, path, c.Device.ID)
	if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotDef, wantDef) {
		t.Fatalf("cached twin differs from the row:\ncache %+v %+v\nrow   %+v %+v (%v)", got, gotDef, want, wantDef, err)
	}
}

// Every way the rows change reaches the cached copy before the writer's
// caller is answered: an operator's config patch and defaults patch, an
// uplink that changes the twin, a failed transaction (nothing changes), a
// deleted device, and a restart.
func TestTwinCacheSeesEveryWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp.db")
	s := open(t, sqlstore.Options{SQLitePath: path})
	f := newFixture(t, s, nil)
	ctx := context.Background()
	c, err := f.devices.Create(admin, f.account.Account.ID, "meter")
	if err != nil {
		t.Fatal(err)
	}
	id, acc := c.Device.ID, f.account.Account.ID
	n := uint32(0)
	up := func(cfg map[string]string) device.Downlink {
		t.Helper()
		n++
		u := uplink(c, 1, n)
		u.Config = cfg
		dl, err := f.devices.Ingest(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return dl
	}
	same := func(step string) {
		t.Helper()
		got, gotDef, err := s.Devices().TwinConfig(ctx, id)
		want, wantDef, werr := dbTwin(t, path, id)
		if err != nil || werr != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotDef, wantDef) {
			t.Fatalf("%s: cache %+v %+v (%v)\nrow %+v %+v (%v)", step, got, gotDef, err, want, wantDef, werr)
		}
	}
	cfg := map[string]string{"INTERVAL": "60"}
	up(cfg)
	up(cfg) // cached now
	same("in sync")

	if _, err := f.devices.PatchConfig(admin, id, []byte(`{"INTERVAL":"30"}`), nil); err != nil {
		t.Fatal(err)
	}
	if dl := up(cfg); dl.UpdateConfig == nil || dl.UpdateConfig.Keys["INTERVAL"] != "30" {
		t.Fatalf("after a config patch the next uplink got %+v", dl.UpdateConfig)
	}
	same("config patch")

	if _, err := f.devices.PatchConfigDefaults(admin, acc, []byte(`{"TZ":"UTC"}`), nil); err != nil {
		t.Fatal(err)
	}
	if dl := up(map[string]string{"INTERVAL": "30"}); dl.UpdateConfig == nil || dl.UpdateConfig.Keys["TZ"] != "UTC" ||
		dl.UpdateConfig.Keys["INTERVAL"] != "" {
		t.Fatalf("after a defaults patch the next uplink got %+v", dl.UpdateConfig)
	}
	same("defaults patch")

	// A use case that writes the twin and then fails changes nothing.
	before, _, _ := s.Devices().TwinConfig(ctx, id)
	boom := errors.New("boom")
	err = s.Devices().Update(ctx, func(tx device.Tx) error {
		tw, err := tx.Twin(ctx, id)
		if err != nil {
			return err
		}
		tw.Desired = device.Values{"INTERVAL": {Value: "1"}}
		tw.Version += 10
		if err := tx.PutTwin(ctx, tw); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failing use case: %v", err)
	}
	if after, _, _ := s.Devices().TwinConfig(ctx, id); !reflect.DeepEqual(after, before) {
		t.Fatalf("a rolled-back write reached the cache: %+v", after.Desired)
	}
	same("rolled back")

	if err := f.devices.Delete(admin, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Devices().TwinConfig(ctx, id); !domain.Is(err, domain.CodeNotFound) {
		t.Fatalf("deleted device's twin: %v", err)
	}
}

// A restarted process starts with an empty cache and reads what the last
// one wrote.
func TestTwinCacheAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp.db")
	s, err := sqlstore.Open(context.Background(), sqlstore.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, s, nil)
	ctx := context.Background()
	c, err := f.devices.Create(admin, f.account.Account.ID, "meter")
	if err != nil {
		t.Fatal(err)
	}
	for n := uint32(1); n <= 2; n++ {
		if _, err := f.devices.Ingest(ctx, uplink(c, 1, n)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	// Another process edits the configuration while this one is down.
	s2, err := sqlstore.Open(ctx, sqlstore.Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	svc2 := device.NewService(s2.Devices(), domain.SystemClock{}, device.Options{})
	if _, err := svc2.PatchConfig(admin, c.Device.ID, []byte(`{"INTERVAL":"5"}`), nil); err != nil {
		t.Fatal(err)
	}
	s2.Close()

	reg := prometheus.NewRegistry()
	s3 := open(t, sqlstore.Options{SQLitePath: path, Registerer: reg})
	tw, _, err := s3.Devices().TwinConfig(ctx, c.Device.ID)
	if err != nil || tw.Desired["INTERVAL"].Value != "5" {
		t.Fatalf("after restart: %+v %v", tw.Desired, err)
	}
	if m := promtest.Counter(t, reg, "liveplane_twin_cache_misses_total"); m != 1 {
		t.Fatalf("first read after restart: %v misses, want 1", m)
	}
}
