package sqlstore

import (
	"context"
	"database/sql"
	"runtime"

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
	sqliteInsertSensor = "INSERT INTO sensor_data (device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	sqliteUpsertConfig = "INSERT INTO device_config (device_id, config, ack, firmware, hardware, boot_count, uplink_count, reported_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, ack = excluded.ack, " +
		"firmware = excluded.firmware, hardware = excluded.hardware, boot_count = excluded.boot_count, " +
		"uplink_count = excluded.uplink_count, reported_at = excluded.reported_at WHERE excluded.reported_at >= device_config.reported_at"
)

// prepareUplinkStmts prepares the three statements on db (the writer,
// whose one connection every batch's transaction runs on).
func prepareUplinkStmts(ctx context.Context, db *sql.DB) ([3]*sql.Stmt, error) {
	var stmts [3]*sql.Stmt
	for i, q := range []string{sqliteInsertActivity, sqliteInsertSensor, sqliteUpsertConfig} {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			for _, st := range stmts[:i] {
				st.Close()
			}
			return stmts, classify(err)
		}
		stmts[i] = st
	}
	return stmts, nil
}

func (t *Tx) insertUplinksRowwise(ctx context.Context, recs []device.Record) error {
	// Tx.StmtContext reuses a statement already prepared on the
	// transaction's connection (and prepares it again on a new one).
	var stmts [3]*sql.Stmt
	for i, st := range t.s.uplinkStmts {
		ts := t.tx.StmtContext(ctx, st)
		defer ts.Close()
		stmts[i] = ts
	}
	act, sens, conf := stmts[0], stmts[1], stmts[2]
	latest := map[string]int{}
	for i, r := range recs {
		if i > 0 {
			// SQLite here is Go code that runs without a pause for the
			// whole batch; on one core the live-log hub and the CoAP
			// handlers would wait for all of it. Let them in between rows.
			runtime.Gosched()
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
			if _, err := sens.ExecContext(ctx, r.DeviceID, at, int64(r.BootCount), int64(r.UplinkCount), idx, "t", int64(c), nil); err != nil {
				return classify(err)
			}
			idx++
		}
		for _, w := range r.WifiScans {
			b := w.BSSID
			if _, err := sens.ExecContext(ctx, r.DeviceID, at, int64(r.BootCount), int64(r.UplinkCount), idx, "w", int64(w.RSSIdBm), b[:]); err != nil {
				return classify(err)
			}
			idx++
		}
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
