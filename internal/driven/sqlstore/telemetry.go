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

func (d deviceStore) Activity(ctx context.Context, deviceID string, q device.Query) ([]device.ActivityRecord, error) {
	since, until, afterAt := rangeArgs(q)
	rows, err := d.s.rdb.QueryContext(ctx, d.s.q(`SELECT received_at, boot_count, uplink_count, reboot_reason,
		sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time FROM activity
		WHERE device_id = ? AND received_at >= ? AND received_at < ?
		AND (received_at, boot_count, uplink_count) > (?, ?, ?)
		ORDER BY received_at, boot_count, uplink_count LIMIT ?`),
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
	rows, err := d.s.rdb.QueryContext(ctx, d.s.q(`SELECT received_at, boot_count, uplink_count, idx, kind, value, bssid
		FROM sensor_data WHERE device_id = ? AND received_at >= ? AND received_at < ?
		AND (received_at, boot_count, uplink_count, idx) > (?, ?, ?, ?)
		ORDER BY received_at, boot_count, uplink_count, idx LIMIT ?`),
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
