package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// insertUplinks stores a batch of uplink records in tx with a handful of
// multi-row statements: the activity row is keyed by the uplink's
// idempotency key (device, boot, uplink_count), so a record already stored
// inserts nothing (and gets no sensor rows); device_config keeps the newest
// report by receive time, so replays and reordering never roll it back.
func (t *Tx) insertUplinks(ctx context.Context, recs []device.Record) error {
	if t.s.engine == engineSQLite {
		return t.insertUplinksRowwise(ctx, recs)
	}
	act := rowsBuilder{cols: 11}
	latest := map[string]int{}
	for i, r := range recs {
		a := r.Activity
		act.add(r.DeviceID, int64(r.BootCount), int64(r.UplinkCount), micros(r.ReceivedAt), string(r.RebootReason),
			int64(a.Sleep), int64(a.Modem), int64(a.GNSS), int64(a.WiFi), int64(a.Other), r.DeviceTimeMs)
		if j, ok := latest[r.DeviceID]; !ok || newer(r, recs[j]) {
			latest[r.DeviceID] = i
		}
	}
	// The activity row carries the idempotency key: RETURNING lists the
	// uplinks that are new, and only those get sensor rows.
	fresh := map[device.Key]bool{}
	err := act.run(ctx, t, "INSERT INTO activity (device_id, boot_count, uplink_count, received_at, reboot_reason, "+
		"sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time) VALUES ",
		" ON CONFLICT DO NOTHING RETURNING device_id, boot_count, uplink_count", func(rows *sql.Rows) error {
			var k device.Key
			var boot, up int64
			if err := rows.Scan(&k.DeviceID, &boot, &up); err != nil {
				return err
			}
			k.BootCount, k.UplinkCount = uint32(boot), uint32(up)
			fresh[k] = true
			return nil
		})
	if err != nil {
		return err
	}
	sens := rowsBuilder{cols: 8}
	for _, r := range recs {
		if !fresh[r.Key()] {
			continue
		}
		delete(fresh, r.Key()) // the same uplink twice in one batch: once
		at, idx := micros(r.ReceivedAt), int64(0)
		for _, c := range r.Temperatures {
			sens.add(r.DeviceID, at, int64(r.BootCount), int64(r.UplinkCount), idx, "t", int64(c), nil)
			idx++
		}
		for _, w := range r.WifiScans {
			b := w.BSSID
			sens.add(r.DeviceID, at, int64(r.BootCount), int64(r.UplinkCount), idx, "w", int64(w.RSSIdBm), b[:])
			idx++
		}
	}
	if err := sens.run(ctx, t, "INSERT INTO sensor_data (device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid) VALUES ",
		"", nil); err != nil {
		return err
	}
	cfg := rowsBuilder{cols: 8}
	for _, i := range latest {
		r := recs[i]
		conf, _ := json.Marshal(r.Config)
		ack, _ := json.Marshal(r.Ack)
		cfg.add(r.DeviceID, string(conf), string(ack), r.Firmware, r.Hardware,
			int64(r.BootCount), int64(r.UplinkCount), micros(r.ReceivedAt))
	}
	return cfg.run(ctx, t, "INSERT INTO device_config (device_id, config, ack, firmware, hardware, boot_count, uplink_count, reported_at) VALUES ",
		" ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, ack = excluded.ack, firmware = excluded.firmware, "+
			"hardware = excluded.hardware, boot_count = excluded.boot_count, uplink_count = excluded.uplink_count, "+
			"reported_at = excluded.reported_at WHERE excluded.reported_at >= device_config.reported_at", nil)
}

func newer(a, b device.Record) bool {
	if !a.ReceivedAt.Equal(b.ReceivedAt) {
		return a.ReceivedAt.After(b.ReceivedAt)
	}
	if a.BootCount != b.BootCount {
		return a.BootCount > b.BootCount
	}
	return a.UplinkCount > b.UplinkCount
}

// rowsBuilder collects the values of a multi-row INSERT.
type rowsBuilder struct {
	cols int
	args []any
}

func (b *rowsBuilder) add(v ...any) { b.args = append(b.args, v...) }

// maxParams keeps statements under SQLite's default limit of 32,766
// bound parameters (PostgreSQL allows 65,535).
const maxParams = 30000

// run executes the statement in chunks; with scan set, it is a query and
// scan is called for each row returned.
func (b *rowsBuilder) run(ctx context.Context, t *Tx, head, tail string, scan func(*sql.Rows) error) error {
	perStmt := maxParams / b.cols
	for rows := len(b.args) / b.cols; rows > 0; {
		n := min(rows, perStmt)
		// Placeholders are written per engine here rather than through
		// Store.q, whose cache would keep one string per batch size.
		var sb strings.Builder
		sb.WriteString(head)
		p := 0
		for i := 0; i < n; i++ {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteByte('(')
			for c := 0; c < b.cols; c++ {
				if c > 0 {
					sb.WriteString(", ")
				}
				p++
				if t.s.engine == enginePostgres {
					sb.WriteString("$" + strconv.Itoa(p))
				} else {
					sb.WriteByte('?')
				}
			}
			sb.WriteByte(')')
		}
		sb.WriteString(tail)
		if err := t.run(ctx, sb.String(), b.args[:n*b.cols], scan); err != nil {
			return classify(err)
		}
		b.args, rows = b.args[n*b.cols:], rows-n
	}
	return nil
}

func (t *Tx) run(ctx context.Context, query string, args []any, scan func(*sql.Rows) error) error {
	if scan == nil {
		_, err := t.tx.ExecContext(ctx, query, args...)
		return err
	}
	rows, err := t.tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
