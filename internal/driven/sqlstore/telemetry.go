package sqlstore

import (
	"context"
	"encoding/json"
	"math"

	"github.com/liveplane/liveplane/internal/domain/device"
)

func (d deviceStore) Reported(ctx context.Context, deviceID string) (device.Reported, error) {
	var r device.Reported
	var conf, ack string
	var boot, up, at int64
	err := d.s.rdb.QueryRowContext(ctx, d.s.q("SELECT config, ack, firmware, hardware, boot_count, uplink_count, reported_at "+
		"FROM device_config WHERE device_id = ?"), deviceID).Scan(&conf, &ack, &r.Firmware, &r.Hardware, &boot, &up, &at)
	if err != nil {
		return device.Reported{}, classify(err)
	}
	if err := json.Unmarshal([]byte(conf), &r.Config); err != nil {
		return device.Reported{}, classify(err)
	}
	if err := json.Unmarshal([]byte(ack), &r.Ack); err != nil {
		return device.Reported{}, classify(err)
	}
	r.BootCount, r.UplinkCount, r.ReportedAt = uint32(boot), uint32(up), fromMicros(at)
	return r, nil
}

// rangeArgs turns q into the bounds of a keyset page: receive time within
// [since, until), position after q.After.
func rangeArgs(q device.Query) (since, until, afterAt int64) {
	since, until = 0, math.MaxInt64
	if !q.Since.IsZero() {
		since = q.Since.UnixMicro()
	}
	if !q.Until.IsZero() {
		until = q.Until.UnixMicro()
	}
	afterAt = -1
	if !q.After.ReceivedAt.IsZero() {
		afterAt = q.After.ReceivedAt.UnixMicro()
	}
	return since, until, afterAt
}

// On SQLite a page is the union of two: the rows the per-device indexes
// hold (activity_times), and the newest rows, above activity_indexed.through,
// scanned (a few seconds of uplinks: uplinkindex.go). A row the indexer
// wrote while this read's snapshot also has it above through comes from
// both, the same row, and UNION keeps one.
const (
	sqliteActivityCols = `a.seq, a.received_at, a.boot_count, a.uplink_count, a.reboot_reason,
		a.sleep_s, a.modem_s, a.gnss_s, a.wifi_s, a.other_s, a.device_time`
	sqliteActivityPage = `SELECT received_at, boot_count, uplink_count, reboot_reason,
		sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time FROM (
		SELECT * FROM (SELECT ` + sqliteActivityCols + `
			FROM activity_times t JOIN activity a ON a.seq = t.seq
			WHERE t.device_id = ?1 AND t.received_at >= ?2 AND t.received_at < ?3
			AND (t.received_at, t.boot_count, t.uplink_count) > (?4, ?5, ?6)
			ORDER BY t.received_at, t.boot_count, t.uplink_count LIMIT ?7)
		UNION
		SELECT ` + sqliteActivityCols + ` FROM activity a
			WHERE a.seq > (SELECT through FROM activity_indexed) AND a.device_id = ?1
			AND a.received_at >= ?2 AND a.received_at < ?3
			AND (a.received_at, a.boot_count, a.uplink_count) > (?4, ?5, ?6))
		ORDER BY received_at, boot_count, uplink_count LIMIT ?7`
	sqliteSensorCols = `s.seq, s.idx, s.kind, s.value, s.bssid`
	sqliteSensorPage = `SELECT received_at, boot_count, uplink_count, idx, kind, value, bssid FROM (
		SELECT * FROM (SELECT t.received_at, t.boot_count, t.uplink_count, ` + sqliteSensorCols + `
			FROM activity_times t JOIN sensor_data s ON s.seq = t.seq
			WHERE t.device_id = ?1 AND t.received_at >= ?2 AND t.received_at < ?3
			AND (t.received_at, t.boot_count, t.uplink_count) >= (?4, ?5, ?6)
			AND (t.received_at, t.boot_count, t.uplink_count, s.idx) > (?4, ?5, ?6, ?7)
			ORDER BY t.received_at, t.boot_count, t.uplink_count, s.idx LIMIT ?8)
		UNION
		SELECT a.received_at, a.boot_count, a.uplink_count, ` + sqliteSensorCols + `
			FROM activity a JOIN sensor_data s ON s.seq = a.seq
			WHERE a.seq > (SELECT through FROM activity_indexed) AND a.device_id = ?1
			AND a.received_at >= ?2 AND a.received_at < ?3
			AND (a.received_at, a.boot_count, a.uplink_count, s.idx) > (?4, ?5, ?6, ?7))
		ORDER BY received_at, boot_count, uplink_count, idx LIMIT ?8`
)

func (d deviceStore) Activity(ctx context.Context, deviceID string, q device.Query) ([]device.ActivityRecord, error) {
	since, until, afterAt := rangeArgs(q)
	query := `SELECT received_at, boot_count, uplink_count, reboot_reason,
		sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time FROM activity
		WHERE device_id = ? AND received_at >= ? AND received_at < ?
		AND (received_at, boot_count, uplink_count) > (?, ?, ?)
		ORDER BY received_at, boot_count, uplink_count LIMIT ?`
	if d.s.engine == engineSQLite {
		query = sqliteActivityPage
	}
	rows, err := d.s.rdb.QueryContext(ctx, d.s.q(query),
		deviceID, since, until, afterAt, int64(q.After.BootCount), int64(q.After.UplinkCount), q.Limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []device.ActivityRecord
	for rows.Next() {
		var r device.ActivityRecord
		var at, boot, up, sl, mo, gn, wi, ot int64
		var reason string
		if err := rows.Scan(&at, &boot, &up, &reason, &sl, &mo, &gn, &wi, &ot, &r.DeviceTimeMs); err != nil {
			return nil, classify(err)
		}
		r.ReceivedAt, r.BootCount, r.UplinkCount = fromMicros(at), uint32(boot), uint32(up)
		r.RebootReason = device.RebootReason(reason)
		r.Activity = device.Activity{Sleep: uint32(sl), Modem: uint32(mo), GNSS: uint32(gn), WiFi: uint32(wi), Other: uint32(ot)}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

func (d deviceStore) SensorData(ctx context.Context, deviceID string, q device.Query) ([]device.SensorReading, error) {
	since, until, afterAt := rangeArgs(q)
	query := `SELECT received_at, boot_count, uplink_count, idx, kind, value, bssid
		FROM sensor_data WHERE device_id = ? AND received_at >= ? AND received_at < ?
		AND (received_at, boot_count, uplink_count, idx) > (?, ?, ?, ?)
		ORDER BY received_at, boot_count, uplink_count, idx LIMIT ?`
	if d.s.engine == engineSQLite {
		query = sqliteSensorPage
	}
	rows, err := d.s.rdb.QueryContext(ctx, d.s.q(query),
		deviceID, since, until, afterAt, int64(q.After.BootCount), int64(q.After.UplinkCount), int64(q.After.Index), q.Limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []device.SensorReading
	for rows.Next() {
		var r device.SensorReading
		var at, boot, up, idx, value int64
		var kind string
		var bssid []byte
		if err := rows.Scan(&at, &boot, &up, &idx, &kind, &value, &bssid); err != nil {
			return nil, classify(err)
		}
		r.ReceivedAt, r.BootCount, r.UplinkCount, r.Index = fromMicros(at), uint32(boot), uint32(up), uint32(idx)
		if kind == "w" {
			w := device.WifiScan{RSSIdBm: int32(value)}
			copy(w.BSSID[:], bssid)
			r.Wifi = &w
		} else {
			r.CentiCelsius = int32(value)
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}
