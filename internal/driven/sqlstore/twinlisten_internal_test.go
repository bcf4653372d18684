package sqlstore

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/testinfra/logtest"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// Two replicas on one PostgreSQL database. Each caches the twins its
// uplinks read; a change made by the other replica, by plain SQL outside
// liveplane, or while a replica's listener was cut off, is seen by its
// next reads within a notification's delivery, not left in the cache.
func TestTwinCacheAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	url := pgtest.New(t)
	a, b := openPG(t, url), openPG(t, url)
	waitCacheOn(t, a)
	waitCacheOn(t, b)
	const id, acc = "01a20a04-0000-7000-8000-000000000001", "01a20a04-0000-7000-8000-0000000000aa"
	putTwin(t, a, id, acc, "v1")
	putDefaults(t, a, acc, "d1")

	// b's reads fill its cache, and once the notifications of a's writes
	// are in, they hit it.
	readsAs(t, b, id, "v1", "d1")
	eventuallyHits(t, b, id, "v1", "d1")

	// Another replica's writes, to the twin and to the account's defaults.
	putTwin(t, a, id, acc, "v2")
	eventuallyReadsAs(t, b, id, "v2", "d1")
	putDefaults(t, a, acc, "d2")
	eventuallyReadsAs(t, b, id, "v2", "d2")

	// Changes outside liveplane: an UPDATE and a TRUNCATE.
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	eventuallyHits(t, b, id, "v2", "d2") // cached again
	if _, err := raw.ExecContext(ctx, `UPDATE device_twins SET desired = '{"K":{"v":"v3","t":0}}' WHERE device_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	eventuallyReadsAs(t, b, id, "v3", "d2")
	if _, err := raw.ExecContext(ctx, `TRUNCATE config_defaults`); err != nil {
		t.Fatal(err)
	}
	eventuallyReadsAs(t, b, id, "v3", "")

	// b's listener connection is cut; a change made before it listens
	// again is not announced to it, so its cache must come back empty.
	eventuallyHits(t, b, id, "v3", "")
	if _, err := raw.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, twinListenerName); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `UPDATE device_twins SET desired = '{"K":{"v":"v4","t":0}}' WHERE device_id = $1`, id); err != nil {
		t.Fatal(err)
	}
	eventuallyReadsAs(t, b, id, "v4", "")
	waitCacheOn(t, b)
	waitCacheOn(t, a)
	eventuallyHits(t, b, id, "v4", "")
}

// A listener whose own probe never comes back (here: sent to another
// database, as through a pooler that does not carry notifications) never
// turns the cache on, and every read goes to the database.
func TestTwinCacheStaysOffWithoutNotifications(t *testing.T) {
	url := pgtest.New(t)
	s := openPG(t, url)
	waitCacheOn(t, s)
	other, err := sql.Open("pgx", pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c := newTwinCache(true)
	l := newTwinListener(url, other, c, s.log, s.metrics)
	l.probeEvery, l.probeTimeout = 50*time.Millisecond, 200*time.Millisecond
	l.start()
	defer l.close()
	time.Sleep(time.Second) // a few rounds of connect, probe, retry
	c.fill(c.token(), device.Twin{DeviceID: "d", AccountID: "a"}, device.Defaults{AccountID: "a"})
	if _, _, ok := c.get("d"); ok {
		t.Fatal("a cache whose listener never heard its probe answered a read")
	}
}

func openPG(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitCacheOn(t *testing.T, s *Store) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; {
		s.twinCache.mu.Lock()
		on := !s.twinCache.off
		s.twinCache.mu.Unlock()
		if on {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("twin cache not on within 15 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func putTwin(t *testing.T, s *Store, id, acc, v string) {
	t.Helper()
	if err := s.update(context.Background(), func(tx *Tx) error {
		return tx.PutTwin(context.Background(), device.Twin{DeviceID: id, AccountID: acc, Version: 1, Desired: device.Values{"K": {Value: v}}})
	}); err != nil {
		t.Fatal(err)
	}
}

func putDefaults(t *testing.T, s *Store, acc, v string) {
	t.Helper()
	if err := s.update(context.Background(), func(tx *Tx) error {
		return tx.PutDefaults(context.Background(), device.Defaults{AccountID: acc, Version: 1, Values: device.Values{"D": {Value: v}}})
	}); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, s *Store, id string) (string, string) {
	t.Helper()
	tw, def, err := s.Devices().TwinConfig(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tw.Desired["K"].Value, def.Values["D"].Value
}

func readsAs(t *testing.T, s *Store, id, want, wantDef string) {
	t.Helper()
	if v, d := read(t, s, id); v != want || d != wantDef {
		t.Fatalf("read %q, defaults %q; want %q, %q", v, d, want, wantDef)
	}
}

// eventuallyReadsAs allows a change a notification's delivery (bounded
// here by 10 s; it takes milliseconds).
func eventuallyReadsAs(t *testing.T, s *Store, id, want, wantDef string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		v, d := read(t, s, id)
		if v == want && d == wantDef {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still read %q, defaults %q after 10 s; want %q, %q (a stale cache entry)", v, d, want, wantDef)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventuallyHits reads until a read is answered by the cache (with the
// value wanted), within 10 s.
func eventuallyHits(t *testing.T, s *Store, id, want, wantDef string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		hits := testutil.ToFloat64(s.metrics.twinHits)
		readsAs(t, s, id, want, wantDef)
		if testutil.ToFloat64(s.metrics.twinHits) == hits+1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("reads of an unchanged twin still miss the cache after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The listener's wait is cut by a deadline before each probe; the
// connection must stay usable after it (not reconnect each time), and
// notifications must still arrive after many probes.
func TestTwinListenerSurvivesItsProbes(t *testing.T) {
	url := pgtest.New(t)
	s := openPG(t, url)
	var logs logtest.Buffer
	c := newTwinCache(true)
	l := newTwinListener(url, s.wdb, c, slog.New(slog.NewTextHandler(&logs, nil)), s.metrics)
	l.probeEvery, l.probeTimeout = 20*time.Millisecond, 2*time.Second
	l.start()
	defer l.close()
	on := func() bool { c.mu.Lock(); defer c.mu.Unlock(); return !c.off }
	for deadline := time.Now().Add(10 * time.Second); !on(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("cache not on: %s", logs.String())
		}
	}
	time.Sleep(500 * time.Millisecond) // ~25 probes
	if strings.Contains(logs.String(), "twin cache off") || !on() {
		t.Fatalf("the listener lost its connection to its own probes:\n%s", logs.String())
	}
	c.fill(c.token(), device.Twin{DeviceID: "d", AccountID: "a"}, device.Defaults{AccountID: "a"})
	if _, _, ok := c.get("d"); !ok {
		t.Fatal("fill while on did not cache")
	}
	if _, err := s.wdb.ExecContext(context.Background(), "SELECT pg_notify($1, 'd')", twinChannel); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, _, ok := c.get("d"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a notification after the probes did not drop the key")
		}
	}
	if n := strings.Count(logs.String(), "twin cache on"); n != 1 {
		t.Fatalf("the cache was turned on %d times, want 1 (no reconnects):\n%s", n, logs.String())
	}
}
