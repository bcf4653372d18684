package sqlstore

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// The device_config columns hold what json.Marshal made of the report; the
// append-based encoders must not change a byte of it.
func TestReportDocumentsMatchEncodingJSON(t *testing.T) {
	for _, cfg := range []map[string]string{nil, {}, benchConfig(20), {"b": "<&>\u2028", "a": "\xff\"\\\n"}} {
		want, _ := json.Marshal(cfg)
		if got := device.AppendJSONStringMap(nil, cfg); string(got) != string(want) {
			t.Errorf("config %q: got %s, want %s", cfg, got, want)
		}
	}
	for _, ack := range []device.ConfigAck{{}, {AppliedVersion: 7, Results: []device.KeyResult{}},
		{AppliedVersion: 1 << 63, Results: []device.KeyResult{{Key: "A", Status: device.KeyRejected, Reason: "<no>"}, {Key: "B", Status: device.KeyApplied}}}} {
		want, _ := json.Marshal(ack)
		if got := appendAckJSON(nil, ack); string(got) != string(want) {
			t.Errorf("ack %+v: got %s, want %s", ack, got, want)
		}
	}
}

// A batch's sensor rows are stored once per uplink, with their index: in
// every count of rows (SQLite writes them in statements of 64, 16, 4 and 1
// rows), for a retransmission in the same batch, and for a batch that
// repeats uplinks already stored, on both engines.
func TestSensorRowsOncePerUplink(t *testing.T) {
	ctx := context.Background()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			var s *Store
			if engine == "sqlite" {
				s = openSQLite(t)
			} else {
				var err error
				if s, err = Open(ctx, Options{URL: pgtest.New(t)}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
			}
			base := time.Unix(1_800_000_000, 0)
			want := 0
			n := 0
			var first []device.Record
			for _, size := range []int{1, 3, 17, 40, 97} { // 0..5 readings each: row counts across every chunk size
				var recs []device.Record
				for i := range size {
					n++
					r := benchRecord(i, n, base.Add(time.Duration(n)*time.Millisecond))
					r.Temperatures = r.Temperatures[:n%3]
					r.WifiScans = append(r.WifiScans, r.WifiScans...)[:n%4]
					want += n%3 + n%4
					recs = append(recs, r)
				}
				recs = append(recs, recs[len(recs)-1]) // a retransmission in the same batch
				if first == nil {
					first = recs
				}
				if err := s.writeUplinks(ctx, recs); err != nil {
					t.Fatalf("batch of %d: %v", size, err)
				}
			}
			if err := s.writeUplinks(ctx, first); err != nil { // stored already: nothing new
				t.Fatal(err)
			}
			var rows, badIdx, bssids int
			from := "sensor_data"
			if engine == "sqlite" { // sensor rows name their uplink by its seq
				from = "sensor_data JOIN activity USING (seq)"
			}
			if err := s.rdb.QueryRowContext(ctx, `SELECT count(*),
				sum(CASE WHEN kind = 't' AND idx >= uplink_count % 3 OR kind = 'w' AND (idx < uplink_count % 3 OR idx >= uplink_count % 3 + uplink_count % 4) THEN 1 ELSE 0 END),
				sum(CASE WHEN kind = 'w' AND length(bssid) = 6 OR kind = 't' AND bssid IS NULL THEN 1 ELSE 0 END) FROM `+from).Scan(&rows, &badIdx, &bssids); err != nil {
				t.Fatal(err)
			}
			if rows != want || badIdx != 0 || bssids != want {
				t.Fatalf("sensor rows %d (want %d), %d with a wrong index, %d with the right bssid", rows, want, badIdx, bssids)
			}
			var acts int
			if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM activity").Scan(&acts); err != nil || acts != n {
				t.Fatalf("activity rows %d, want %d (%v)", acts, n, err)
			}
		})
	}
}

// openSQLite opens a store on a fresh SQLite file, closed at the end of t.
func openSQLite(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// The writer lingers only under load and for a batch short of
// lingerBatch, long enough for the rest at the current rate, never past
// lingerMax.
func TestUplinkWriterLinger(t *testing.T) {
	for _, c := range []struct {
		rate float64
		n    int
		want time.Duration
	}{
		{0, 1, 0},
		{lingerRate - 1, 1, 0},
		{lingerRate, 1, lingerMax},           // 15 records at 2,000/s take 7.5 ms
		{15_000, 1, time.Millisecond},        // 15 at 15,000/s
		{15_000, 13, 200 * time.Microsecond}, // 3 more
		{15_000, lingerBatch, 0},
		{15_000, 300, 0},
	} {
		if got := lingerFor(c.rate, c.n); got != c.want {
			t.Errorf("rate %.0f/s, %d queued: linger %v, want %v", c.rate, c.n, got, c.want)
		}
	}
}
