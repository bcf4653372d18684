package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// The SQLite uplink tables against a model: batches with retransmissions
// (in the batch and of earlier batches) and receive-time ties, read back in
// pages of every size and over time ranges while rows sit in every state the
// indexer leaves them in (unindexed, indexed, indexed above through after an
// interrupted round, a round that stopped at its row limit), across
// restarts and a device's deletion. Every uplink
// is stored once, with the first copy's values, and every page is exact.
func TestUplinkIndexAgainstModel(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lp.db")
	open := func() *Store {
		s, err := Open(ctx, Options{SQLitePath: path})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	defer func() { s.Close() }()
	// Rounds of a few rows: most rounds leave a backlog for the next.
	defer func(n int) { indexRoundMax = n }(indexRoundMax)
	indexRoundMax = 7
	rng := rand.New(rand.NewPCG(7, 9))
	base := time.Unix(1_800_000_000, 0)
	devices := []string{benchDeviceID(0), benchDeviceID(1), benchDeviceID(2)}
	stored := map[upKey]device.Record{} // the model: first copy wins
	var sent []device.Record
	newRecord := func() device.Record {
		if len(sent) > 0 && rng.IntN(4) == 0 { // a retransmission, maybe with a later receive time
			r := sent[rng.IntN(len(sent))]
			r.ReceivedAt = r.ReceivedAt.Add(time.Duration(rng.IntN(2)) * time.Second)
			r.Activity.Sleep++ // must not overwrite the first copy
			return r
		}
		d := rng.IntN(len(devices))
		r := benchRecord(d, rng.IntN(40), base.Add(time.Duration(rng.IntN(30))*time.Second)) // ties in receive time
		r.BootCount = uint32(1 + rng.IntN(2))
		r.Temperatures = r.Temperatures[:rng.IntN(3)]
		r.WifiScans = r.WifiScans[:rng.IntN(3)]
		r.Activity.Sleep = uint32(rng.IntN(1000))
		return r
	}
	deleted := map[string]bool{}
	for step := range 30 {
		var batch []device.Record
		for range 1 + rng.IntN(30) {
			r := newRecord()
			if deleted[r.DeviceID] {
				continue
			}
			batch = append(batch, r)
			if rng.IntN(8) == 0 {
				batch = append(batch, r) // the same datagram twice in one batch
			}
			sent = append(sent, r)
			if k := (upKey{r.DeviceID, r.BootCount, r.UplinkCount}); !hasKey(stored, k) {
				stored[k] = r
			}
		}
		if err := s.writeUplinks(ctx, batch); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		switch rng.IntN(5) {
		case 0: // a whole indexing round
			if err := s.uplinkIndex.round(ctx); err != nil {
				t.Fatal(err)
			}
		case 1: // a round that stopped after some chunks: entries above through
			partialIndex(t, s, rng)
		case 2:
			s.Close()
			s = open()
		}
		if step == 18 {
			victim := devices[2]
			if err := s.update(ctx, func(tx *Tx) error { return tx.deleteUplinksSQLite(ctx, victim) }); err != nil {
				t.Fatal(err)
			}
			deleted[victim] = true
			for k := range stored {
				if k.device == victim {
					delete(stored, k)
				}
			}
		}
		checkPages(t, s, stored, devices, rng, fmt.Sprintf("step %d", step))
	}
	var unindexed int
	for range 200 { // rounds of indexRoundMax rows each, until none is left
		if from, to, _ := s.uplinkTail.span(); from >= to {
			break
		}
		if err := s.uplinkIndex.round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM activity WHERE seq > (SELECT through FROM activity_indexed)").Scan(&unindexed); err != nil || unindexed != 0 {
		t.Fatalf("after a round: %d rows above through (%v)", unindexed, err)
	}
	var keys, times, acts int
	if err := s.rdb.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM activity_keys), (SELECT count(*) FROM activity_times), (SELECT count(*) FROM activity)").Scan(&keys, &times, &acts); err != nil {
		t.Fatal(err)
	}
	if keys != len(stored) || times != len(stored) || acts != len(stored) {
		t.Fatalf("keys %d, times %d, activity %d: want %d each (no entries of the deleted device)", keys, times, acts, len(stored))
	}
	checkPages(t, s, stored, devices, rng, "end")
}

func hasKey(m map[upKey]device.Record, k upKey) bool { _, ok := m[k]; return ok }

// partialIndex writes the index entries of a random part of the rows above
// through, and leaves through where it is.
func partialIndex(t *testing.T, s *Store, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	rows, err := s.rdb.QueryContext(ctx, "SELECT device_id, received_at, boot_count, uplink_count, seq FROM activity WHERE seq > (SELECT through FROM activity_indexed)")
	if err != nil {
		t.Fatal(err)
	}
	var ix []indexRow
	for rows.Next() {
		var r indexRow
		if err := rows.Scan(&r.device, &r.at, &r.boot, &r.count, &r.seq); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(2) == 0 {
			ix = append(ix, r)
		}
	}
	rows.Close()
	if len(ix) == 0 {
		return
	}
	if err := s.update(ctx, func(tx *Tx) error { return tx.insertIndexEntries(ctx, ix) }); err != nil {
		t.Fatal(err)
	}
}

// checkPages reads every device's activity and sensor rows in pages of a
// random size over a random time range and compares them with the model.
func checkPages(t *testing.T, s *Store, stored map[upKey]device.Record, devices []string, rng *rand.Rand, when string) {
	t.Helper()
	ctx := context.Background()
	base := time.Unix(1_800_000_000, 0)
	for _, id := range devices {
		var recs []device.Record
		for k, r := range stored {
			if k.device == id {
				recs = append(recs, r)
			}
		}
		slices.SortFunc(recs, func(a, b device.Record) int {
			return cmp.Or(a.ReceivedAt.Compare(b.ReceivedAt), cmp.Compare(a.BootCount, b.BootCount), cmp.Compare(a.UplinkCount, b.UplinkCount))
		})
		var q device.Query
		if rng.IntN(2) == 0 {
			q.Since, q.Until = base.Add(time.Duration(rng.IntN(15))*time.Second), base.Add(time.Duration(15+rng.IntN(20))*time.Second)
		}
		in := func(at time.Time) bool {
			return (q.Since.IsZero() || !at.Before(q.Since)) && (q.Until.IsZero() || at.Before(q.Until))
		}
		var wantAct, gotAct []string
		var wantSens, gotSens []string
		for _, r := range recs {
			if !in(r.ReceivedAt) {
				continue
			}
			wantAct = append(wantAct, fmt.Sprintf("%d/%d/%d sleep=%d", r.ReceivedAt.Unix(), r.BootCount, r.UplinkCount, r.Activity.Sleep))
			for i, c := range r.Temperatures {
				wantSens = append(wantSens, fmt.Sprintf("%d/%d/%d#%d t=%d", r.ReceivedAt.Unix(), r.BootCount, r.UplinkCount, i, c))
			}
			for i, w := range r.WifiScans {
				wantSens = append(wantSens, fmt.Sprintf("%d/%d/%d#%d w=%d %x", r.ReceivedAt.Unix(), r.BootCount, r.UplinkCount, len(r.Temperatures)+i, w.RSSIdBm, w.BSSID))
			}
		}
		q.Limit = 1 + rng.IntN(7)
		for page := q; ; {
			list, err := s.Devices().Activity(ctx, id, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range list {
				gotAct = append(gotAct, fmt.Sprintf("%d/%d/%d sleep=%d", a.ReceivedAt.Unix(), a.BootCount, a.UplinkCount, a.Activity.Sleep))
			}
			if len(list) < page.Limit {
				break
			}
			last := list[len(list)-1]
			page.After = device.Cursor{ReceivedAt: last.ReceivedAt, BootCount: last.BootCount, UplinkCount: last.UplinkCount}
		}
		for page := q; ; {
			list, err := s.Devices().SensorData(ctx, id, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range list {
				if r.Wifi != nil {
					gotSens = append(gotSens, fmt.Sprintf("%d/%d/%d#%d w=%d %x", r.ReceivedAt.Unix(), r.BootCount, r.UplinkCount, r.Index, r.Wifi.RSSIdBm, r.Wifi.BSSID))
				} else {
					gotSens = append(gotSens, fmt.Sprintf("%d/%d/%d#%d t=%d", r.ReceivedAt.Unix(), r.BootCount, r.UplinkCount, r.Index, r.CentiCelsius))
				}
			}
			if len(list) < page.Limit {
				break
			}
			last := list[len(list)-1]
			page.After = device.Cursor{ReceivedAt: last.ReceivedAt, BootCount: last.BootCount, UplinkCount: last.UplinkCount, Index: last.Index}
		}
		if !slices.Equal(gotAct, wantAct) {
			t.Fatalf("%s, device %s, %+v: activity\n got %q\nwant %q", when, id, q, gotAct, wantAct)
		}
		if !slices.Equal(gotSens, wantSens) {
			t.Fatalf("%s, device %s, %+v: sensors\n got %q\nwant %q", when, id, q, gotSens, wantSens)
		}
	}
}

// Migration 0009 carries uplinks stored in the by-device layout over: the
// same pages come back, indexed, and the keys still catch retransmissions.
func TestUplinkLogMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lp.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	old := &Store{engine: engineSQLite, wdb: db, log: slog.New(slog.DiscardHandler)}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
		checksum TEXT NOT NULL, applied_at BIGINT NOT NULL, contract INTEGER NOT NULL DEFAULT 0)`); err != nil {
		t.Fatal(err)
	}
	all, err := migrations(engineSQLite)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.version < 9 {
			if err := old.apply(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	base := time.Unix(1_800_000_000, 0)
	stored := map[upKey]device.Record{}
	for i := range 30 {
		r := benchRecord(i%3, i, base.Add(time.Duration(i%7)*time.Second))
		r.Temperatures = r.Temperatures[:i%3]
		stored[upKey{r.DeviceID, r.BootCount, r.UplinkCount}] = r
		at := micros(r.ReceivedAt)
		if _, err := db.ExecContext(ctx, `INSERT INTO activity (device_id, boot_count, uplink_count, received_at, reboot_reason,
			sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.DeviceID, r.BootCount, r.UplinkCount, at, string(r.RebootReason), r.Activity.Sleep, r.Activity.Modem,
			r.Activity.GNSS, r.Activity.WiFi, r.Activity.Other, r.DeviceTimeMs); err != nil {
			t.Fatal(err)
		}
		for j, c := range r.Temperatures {
			if _, err := db.ExecContext(ctx, `INSERT INTO sensor_data (device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid)
				VALUES (?, ?, ?, ?, ?, 't', ?, NULL)`, r.DeviceID, at, r.BootCount, r.UplinkCount, j, c); err != nil {
				t.Fatal(err)
			}
		}
		for j, w := range r.WifiScans {
			if _, err := db.ExecContext(ctx, `INSERT INTO sensor_data (device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid)
				VALUES (?, ?, ?, ?, ?, 'w', ?, ?)`, r.DeviceID, at, r.BootCount, r.UplinkCount, len(r.Temperatures)+j, w.RSSIdBm, w.BSSID[:]); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()
	s, err := Open(ctx, Options{SQLitePath: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := s.uplinkTail.pending(); n != 0 {
		t.Fatalf("%d migrated rows left unindexed", n)
	}
	devices := []string{benchDeviceID(0), benchDeviceID(1), benchDeviceID(2)}
	rng := rand.New(rand.NewPCG(1, 2))
	checkPages(t, s, stored, devices, rng, "migrated")
	var again []device.Record
	for _, r := range stored {
		r.Activity.Sleep++
		again = append(again, r)
	}
	if err := s.writeUplinks(ctx, again); err != nil {
		t.Fatal(err)
	}
	checkPages(t, s, stored, devices, rng, "retransmitted after the migration")
}
