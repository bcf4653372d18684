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
// written through statements prepared once, when the store opens, on the
// writer's one connection (each batch's transaction reuses them; preparing
// them per batch still cost about 4 % of serve's CPU at 5,000 uplinks/s);
// the batch still commits as one transaction. The rows go in arrival order,
// and their index entries later (uplinkindex.go).

const (
	// The row goes in unless activity_keys holds its key (a row stored and
	// indexed): one statement, for a query of its own cost more than the
	// lookup (12 % of serve's CPU at 5,000 uplinks/s).
	sqliteInsertActivity = "INSERT INTO activity (seq, device_id, boot_count, uplink_count, received_at, reboot_reason, " +
		"sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12 " +
		"WHERE NOT EXISTS (SELECT 1 FROM activity_keys WHERE device_id = ?2 AND boot_count = ?3 AND uplink_count = ?4)"
	sqliteUpsertConfig = "INSERT INTO device_config (device_id, config, ack, firmware, hardware, boot_count, uplink_count, reported_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, ack = excluded.ack, " +
		"firmware = excluded.firmware, hardware = excluded.hardware, boot_count = excluded.boot_count, " +
		"uplink_count = excluded.uplink_count, reported_at = excluded.reported_at WHERE excluded.reported_at >= device_config.reported_at"
)

// rowChunks are the row counts of a chunkedInsert's statements: rows go in
// statements of 64, then 16, 4 and 1, instead of one statement run per row
// (each run costs some 2.5 µs of database/sql and driver overhead).
var rowChunks = [...]int{64, 16, 4, 1}

// chunkedInsert is one multi-row INSERT, prepared for each of rowChunks.
type chunkedInsert struct {
	cols  int
	stmts [len(rowChunks)]*sql.Stmt
}

func prepareChunked(ctx context.Context, c *sql.Conn, prefix string, cols int) (*chunkedInsert, error) {
	ci := &chunkedInsert{cols: cols}
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	for i, n := range rowChunks {
		st, err := c.PrepareContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(row+", ", n), ", "))
		if err != nil {
			ci.close()
			return nil, classify(err)
		}
		ci.stmts[i] = st
	}
	return ci, nil
}

// exec inserts vals, cols values per row, in t.
func (ci *chunkedInsert) exec(ctx context.Context, t *Tx, vals []any) error {
	_, err := ci.run(ctx, t, vals, true)
	return err
}

// run inserts the rows of vals that fill the largest statement, or all of
// them, and returns the values of the rows left.
func (ci *chunkedInsert) run(ctx context.Context, t *Tx, vals []any, all bool) ([]any, error) {
	ctx = t.run(ctx)
	for i, n := range rowChunks {
		for len(vals) >= n*ci.cols && (all || i == 0) {
			if _, err := t.stmt(ctx, ci.stmts[i]).ExecContext(ctx, vals[:n*ci.cols]...); err != nil {
				return vals, classify(err)
			}
			vals = vals[n*ci.cols:]
		}
	}
	return vals, nil
}

func (ci *chunkedInsert) close() error {
	var err error
	for _, st := range ci.stmts {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	return err
}

// sqliteUplinkStmts are the uplink batch's statements and the indexer's,
// prepared once on the writer's one connection.
type sqliteUplinkStmts struct {
	activity, config     *sql.Stmt
	sensors, keys, times *chunkedInsert
}

// prepareUplinkStmts prepares the statements on the writer's connection,
// the one every batch's transaction runs on.
func prepareUplinkStmts(ctx context.Context, c *sql.Conn) (*sqliteUplinkStmts, error) {
	u := &sqliteUplinkStmts{}
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{{&u.activity, sqliteInsertActivity}, {&u.config, sqliteUpsertConfig}} {
		st, err := c.PrepareContext(ctx, p.query)
		if err != nil {
			u.close()
			return nil, classify(err)
		}
		*p.dst = st
	}
	for _, p := range []struct {
		dst    **chunkedInsert
		prefix string
		cols   int
	}{
		{&u.sensors, "INSERT INTO sensor_data (seq, idx, kind, value, bssid) VALUES ", 5},
		{&u.keys, "INSERT OR IGNORE INTO activity_keys (device_id, boot_count, uplink_count, seq) VALUES ", 4},
		{&u.times, "INSERT OR IGNORE INTO activity_times (device_id, received_at, boot_count, uplink_count, seq) VALUES ", 5},
	} {
		ci, err := prepareChunked(ctx, c, p.prefix, p.cols)
		if err != nil {
			u.close()
			return nil, err
		}
		*p.dst = ci
	}
	return u, nil
}

func (u *sqliteUplinkStmts) close() error {
	var err error
	for _, st := range []*sql.Stmt{u.activity, u.config} {
		if st != nil {
			err = errors.Join(err, st.Close())
		}
	}
	for _, ci := range []*chunkedInsert{u.sensors, u.keys, u.times} {
		if ci != nil {
			err = errors.Join(err, ci.close())
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
	u, tail := t.s.uplinkStmts, t.s.uplinkTail
	act, conf := t.stmt(ctx, u.activity), t.stmt(ctx, u.config)
	// claimed are the keys this transaction takes in the tail: if it rolls
	// back, they are free again.
	var claimed []upSeq
	t.afterEnd(func(committed bool) { tail.settle(claimed, committed) })
	// rows holds sensor rows not yet written, 5 values each.
	rows := make([]any, 0, rowChunks[0]*u.sensors.cols)
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
		// The idempotency key: a row above the index's mark is in the
		// tail (this batch's included), one below it in activity_keys.
		k := upKey{r.DeviceID, r.BootCount, r.UplinkCount}
		seq, fresh := tail.claim(k)
		if !fresh {
			continue
		}
		claimed = append(claimed, upSeq{k, seq})
		at, a := micros(r.ReceivedAt), r.Activity
		res, err := act.ExecContext(ctx, seq, r.DeviceID, int64(r.BootCount), int64(r.UplinkCount), at, string(r.RebootReason),
			int64(a.Sleep), int64(a.Modem), int64(a.GNSS), int64(a.WiFi), int64(a.Other), r.DeviceTimeMs)
		if err != nil {
			return classify(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue // stored and indexed already; the claimed seq goes unused
		}
		idx := int64(0)
		for _, c := range r.Temperatures {
			rows = append(rows, seq, idx, "t", int64(c), nil)
			idx++
		}
		for _, w := range r.WifiScans {
			rows = append(rows, seq, idx, "w", int64(w.RSSIdBm), w.BSSID[:])
			idx++
		}
		rest, err := u.sensors.run(ctx, t, rows, false)
		if err != nil {
			return err
		}
		rows = append(rows[:0], rest...)
	}
	if err := u.sensors.exec(ctx, t, rows); err != nil {
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
