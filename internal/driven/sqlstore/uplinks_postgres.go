package sqlstore

import (
	"context"
	"encoding/json"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// On PostgreSQL a batch is three statements whose text never changes, each
// taking one array per column (unnest): one prepared statement per
// connection whatever the batch size, one round trip per table.
const (
	pgInsertActivity = `INSERT INTO activity (device_id, boot_count, uplink_count, received_at, reboot_reason,
		sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
			$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
		ON CONFLICT DO NOTHING RETURNING device_id, boot_count, uplink_count`
	pgInsertSensor = `INSERT INTO sensor_data (device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[], $8::bytea[])`
	pgUpsertConfig = `INSERT INTO device_config (device_id, config, ack, firmware, hardware, boot_count, uplink_count, reported_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[])
		ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, ack = excluded.ack, firmware = excluded.firmware,
			hardware = excluded.hardware, boot_count = excluded.boot_count, uplink_count = excluded.uplink_count,
			reported_at = excluded.reported_at WHERE excluded.reported_at >= device_config.reported_at`
)

func (t *Tx) insertUplinksUnnest(ctx context.Context, recs []device.Record) error {
	n := len(recs)
	var (
		ids, reasons                            = make([]string, n), make([]string, n)
		boots, ups, ats, sl, mo, gn, wi, ot, dt = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n),
			make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	)
	latest := map[string]int{}
	for i, r := range recs {
		a := r.Activity
		ids[i], boots[i], ups[i], ats[i], reasons[i] = r.DeviceID, int64(r.BootCount), int64(r.UplinkCount), micros(r.ReceivedAt), string(r.RebootReason)
		sl[i], mo[i], gn[i], wi[i], ot[i], dt[i] = int64(a.Sleep), int64(a.Modem), int64(a.GNSS), int64(a.WiFi), int64(a.Other), r.DeviceTimeMs
		if j, ok := latest[r.DeviceID]; !ok || newer(r, recs[j]) {
			latest[r.DeviceID] = i
		}
	}
	rows, err := t.tx.QueryContext(ctx, pgInsertActivity, ids, boots, ups, ats, reasons, sl, mo, gn, wi, ot, dt)
	if err != nil {
		return classify(err)
	}
	fresh := map[device.Key]bool{}
	for rows.Next() {
		var k device.Key
		var b, u int64
		if err := rows.Scan(&k.DeviceID, &b, &u); err != nil {
			rows.Close()
			return classify(err)
		}
		k.BootCount, k.UplinkCount = uint32(b), uint32(u)
		fresh[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(err)
	}

	var sIDs, sKinds []string
	var sAts, sBoots, sUps, sIdx, sVals []int64
	var sBSSID [][]byte
	for _, r := range recs {
		if !fresh[r.Key()] {
			continue
		}
		delete(fresh, r.Key())
		add := func(idx int, kind string, v int64, b []byte) {
			sIDs, sAts, sBoots, sUps = append(sIDs, r.DeviceID), append(sAts, micros(r.ReceivedAt)), append(sBoots, int64(r.BootCount)), append(sUps, int64(r.UplinkCount))
			sIdx, sKinds, sVals, sBSSID = append(sIdx, int64(idx)), append(sKinds, kind), append(sVals, v), append(sBSSID, b)
		}
		for i, c := range r.Temperatures {
			add(i, "t", int64(c), nil)
		}
		for i, w := range r.WifiScans {
			b := w.BSSID
			add(len(r.Temperatures)+i, "w", int64(w.RSSIdBm), b[:])
		}
	}
	if len(sIDs) > 0 {
		if _, err := t.tx.ExecContext(ctx, pgInsertSensor, sIDs, sAts, sBoots, sUps, sIdx, sKinds, sVals, sBSSID); err != nil {
			return classify(err)
		}
	}

	var cIDs, cConf, cAck, cFw, cHw []string
	var cBoots, cUps, cAts []int64
	for _, i := range latest {
		r := recs[i]
		conf, _ := json.Marshal(r.Config)
		ack, _ := json.Marshal(r.Ack)
		cIDs, cConf, cAck, cFw, cHw = append(cIDs, r.DeviceID), append(cConf, string(conf)), append(cAck, string(ack)), append(cFw, r.Firmware), append(cHw, r.Hardware)
		cBoots, cUps, cAts = append(cBoots, int64(r.BootCount)), append(cUps, int64(r.UplinkCount)), append(cAts, micros(r.ReceivedAt))
	}
	_, err = t.tx.ExecContext(ctx, pgUpsertConfig, cIDs, cConf, cAck, cFw, cHw, cBoots, cUps, cAts)
	return classify(err)
}
