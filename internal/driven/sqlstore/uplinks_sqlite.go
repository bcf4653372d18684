package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// On SQLite, parsing a multi-row INSERT costs more than running it (the
// parser showed as a fifth of the server's CPU under load), so uplinks are
// written row by row through three statements prepared once, when the store
// opens, on the writer's one connection (each batch's transaction reuses
// them; preparing them per batch still cost about 4 % of serve's CPU at
// 5,000 uplinks/s); the batch still commits as one transaction.

const (
	sqliteInsertActivity = "INSERT INTO activity (device_id, boot_count, uplink_count, received_at, reboot_reason, " +
		"sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
	sqliteInsertSensor = "INSERT INTO sensor_data (device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid) VALUES "
	sqliteSensorRow    = "(?, ?, ?, ?, ?, ?, ?, ?)"
	sqliteSensorCols   = 8
	sqliteUpsertConfig = "INSERT INTO device_config (device_id, config, ack, firmware, hardware, boot_count, uplink_count, reported_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, ack = excluded.ack, " +
		"firmware = excluded.firmware, hardware = excluded.hardware, boot_count = excluded.boot_count, " +
		"uplink_count = excluded.uplink_count, reported_at = excluded.reported_at WHERE excluded.reported_at >= device_config.reported_at"
)

// sensorChunks are the row counts of the prepared sensor statements: a
// batch's sensor rows (four per uplink in the benchmark) go in statements
// of 64 rows, the rest in 16, 4 and 1, instead of one statement run per
// row (each run costs some 2.5 µs of database/sql and driver overhead).
var sensorChunks = [...]int{64, 16, 4, 1}

// sqliteUplinkStmts are the uplink batch's statements, prepared once on the
// writer's one connection.
type sqliteUplinkStmts struct {
	activity, config *sql.Stmt
	sensors          [len(sensorChunks)]*sql.Stmt
}

func (u *sqliteUplinkStmts) all() []*sql.Stmt {
	return append([]*sql.Stmt{u.activity, u.config}, u.sensors[:]...)
}

// prepareUplinkStmts prepares the statements on the writer's connection,
// the one every batch's transaction runs on.
func prepareUplinkStmts(ctx context.Context, db *sql.Conn) (*sqliteUplinkStmts, error) {
	u := &sqliteUplinkStmts{}
	dst := []**sql.Stmt{&u.activity, &u.config}
	queries := []string{sqliteInsertActivity, sqliteUpsertConfig}
	for i, n := range sensorChunks {
		dst = append(dst, &u.sensors[i])
		queries = append(queries, sqliteInsertSensor+strings.TrimSuffix(strings.Repeat(sqliteSensorRow+", ", n), ", "))
	}
	for i, q := range queries {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			u.close()
			return nil, classify(err)
		}
		*dst[i] = st
	}
	return u, nil
}

func (u *sqliteUplinkStmts) close() error {
	var err error
	for _, st := range u.all() {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	return err
}

// uplinkYieldEvery is how long a batch's rows run before the writer lets
// the other goroutines in. It yielded after every row before: a yield on
// one core runs every runnable goroutine once, so a batch of 512 rows (the
// queue after a stall) paid 512 rounds of the scheduler before its commit,
// while every uplink in it waited.
const uplinkYieldEvery = 500 * time.Microsecond

func (t *Tx) insertUplinksRowwise(ctx context.Context, recs []device.Record) error {
	ctx = t.run(ctx)
	u := t.s.uplinkStmts
	act, conf := t.stmt(ctx, u.activity), t.stmt(ctx, u.config)
	var sens [len(sensorChunks)]*sql.Stmt
	// rows holds sensor rows not yet written, sqliteSensorCols values each.
	rows := make([]any, 0, sensorChunks[0]*sqliteSensorCols)
	flush := func(all bool) error {
		for i, n := range sensorChunks {
			for len(rows) >= n*sqliteSensorCols && (all || i == 0) {
				if sens[i] == nil {
					sens[i] = t.stmt(ctx, u.sensors[i])
				}
				if _, err := sens[i].ExecContext(ctx, rows[:n*sqliteSensorCols]...); err != nil {
					return classify(err)
				}
				rows = append(rows[:0], rows[n*sqliteSensorCols:]...)
			}
		}
		return nil
	}
	latest := map[string]int{}
	ran := time.Now()
	for i, r := range recs {
		if time.Since(ran) > uplinkYieldEvery {
			// SQLite here is Go code that runs without a pause for the
			// whole batch; on one core the live-log hub and the CoAP
			// handlers would wait for all of it. Let them in now and then.
			runtime.Gosched()
			ran = time.Now()
		}
		if j, ok := latest[r.DeviceID]; !ok || newer(r, recs[j]) {
			latest[r.DeviceID] = i
		}
		at, a := micros(r.ReceivedAt), r.Activity
		res, err := act.ExecContext(ctx, r.DeviceID, int64(r.BootCount), int64(r.UplinkCount), at, string(r.RebootReason),
			int64(a.Sleep), int64(a.Modem), int64(a.GNSS), int64(a.WiFi), int64(a.Other), r.DeviceTimeMs)
		if err != nil {
			return classify(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue // already stored: the idempotency key held
		}
		idx := int64(0)
		for _, c := range r.Temperatures {
			rows = append(rows, r.DeviceID, at, int64(r.BootCount), int64(r.UplinkCount), idx, "t", int64(c), nil)
			idx++
		}
		for _, w := range r.WifiScans {
			rows = append(rows, r.DeviceID, at, int64(r.BootCount), int64(r.UplinkCount), idx, "w", int64(w.RSSIdBm), w.BSSID[:])
			idx++
		}
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	var buf []byte
	for _, i := range latest {
		r := recs[i]
		buf = device.AppendJSONStringMap(buf[:0], r.Config)
		n := len(buf)
		buf = appendAckJSON(buf, r.Ack)
		// Strings, not []byte: SQLite would store a blob.
		if _, err := conf.ExecContext(ctx, r.DeviceID, string(buf[:n]), string(buf[n:]), r.Firmware, r.Hardware,
			int64(r.BootCount), int64(r.UplinkCount), micros(r.ReceivedAt)); err != nil {
			return classify(err)
		}
	}
	return nil
}
