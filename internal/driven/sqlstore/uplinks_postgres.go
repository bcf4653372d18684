package sqlstore

import (
	"context"
	"database/sql"
	"sync"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// On PostgreSQL a batch is one statement whose text never changes: three
// inserts in data-modifying CTEs, each taking one array per column
// (unnest), the last one the statement itself. The sensor rows join the
// activity insert's RETURNING, so only uplinks stored for the first time
// get them; the statement commits on its own, so a batch is one round trip
// (it was five: BEGIN, three statements, COMMIT, each a wait for a
// PostgreSQL backend that shares the cores).
const pgInsertUplinks = `WITH a AS (
		INSERT INTO activity (device_id, boot_count, uplink_count, received_at, reboot_reason,
			sleep_s, modem_s, gnss_s, wifi_s, other_s, device_time)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
			$6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
		ON CONFLICT DO NOTHING RETURNING device_id, boot_count, uplink_count
	), s AS (
		INSERT INTO sensor_data (device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid)
		SELECT x.device_id, x.received_at, x.boot_count, x.uplink_count, x.idx, x.kind, x.value, x.bssid
		FROM unnest($12::text[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::text[], $18::bigint[], $19::bytea[])
			AS x(device_id, received_at, boot_count, uplink_count, idx, kind, value, bssid)
		JOIN a ON a.device_id = x.device_id AND a.boot_count = x.boot_count AND a.uplink_count = x.uplink_count
	)
	INSERT INTO device_config (device_id, config, ack, firmware, hardware, boot_count, uplink_count, reported_at)
		SELECT * FROM unnest($20::text[], $21::text[], $22::text[], $23::text[], $24::text[], $25::bigint[], $26::bigint[], $27::bigint[])
		ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, ack = excluded.ack, firmware = excluded.firmware,
			hardware = excluded.hardware, boot_count = excluded.boot_count, uplink_count = excluded.uplink_count,
			reported_at = excluded.reported_at WHERE excluded.reported_at >= device_config.reported_at`

// unnestCols are the column arrays of one batch. They are reused across
// batches (a batch of 512 uplinks is some 30 slices and maps), and the
// reported configurations are encoded into one buffer that the text[]
// parameters slice, instead of a string per uplink.
type unnestCols struct {
	ids, reasons                            []string
	boots, ups, ats, sl, mo, gn, wi, ot, dt []int64
	latest                                  map[string]int
	seen                                    map[device.Key]bool // keys whose sensor rows are in the arrays

	sIDs, sKinds                    []string
	sAts, sBoots, sUps, sIdx, sVals []int64
	sBSSID                          [][]byte
	bssids                          [][6]byte
	cIDs, cFw, cHw                  []string
	cConf, cAck                     [][]byte
	cBoots, cUps, cAts              []int64
	cEnds                           []int // end offsets in buf: config, ack, config, ack, ...
	buf                             []byte
}

var unnestPool = sync.Pool{New: func() any {
	return &unnestCols{latest: map[string]int{}, seen: map[device.Key]bool{}}
}}

func (c *unnestCols) reset() {
	c.ids, c.reasons = c.ids[:0], c.reasons[:0]
	c.boots, c.ups, c.ats, c.sl, c.mo, c.gn, c.wi, c.ot, c.dt = c.boots[:0], c.ups[:0], c.ats[:0], c.sl[:0], c.mo[:0], c.gn[:0], c.wi[:0], c.ot[:0], c.dt[:0]
	clear(c.latest)
	clear(c.seen)
	c.sIDs, c.sKinds = c.sIDs[:0], c.sKinds[:0]
	c.sAts, c.sBoots, c.sUps, c.sIdx, c.sVals = c.sAts[:0], c.sBoots[:0], c.sUps[:0], c.sIdx[:0], c.sVals[:0]
	clear(c.sBSSID) // drop references into the previous batch
	c.sBSSID, c.bssids = c.sBSSID[:0], c.bssids[:0]
	clear(c.cIDs)
	c.cIDs, c.cFw, c.cHw = c.cIDs[:0], c.cFw[:0], c.cHw[:0]
	clear(c.cConf)
	clear(c.cAck)
	c.cConf, c.cAck = c.cConf[:0], c.cAck[:0]
	c.cBoots, c.cUps, c.cAts, c.cEnds, c.buf = c.cBoots[:0], c.cUps[:0], c.cAts[:0], c.cEnds[:0], c.buf[:0]
}

// insertUplinksPG writes a batch with pgInsertUplinks, a transaction of its
// own.
func insertUplinksPG(ctx context.Context, db *sql.DB, recs []device.Record) error {
	c := unnestPool.Get().(*unnestCols)
	defer func() {
		c.reset()
		clear(c.ids) // no device ids kept alive by the pool
		clear(c.sIDs)
		unnestPool.Put(c)
	}()
	c.reset()
	for i, r := range recs {
		a := r.Activity
		c.ids, c.boots, c.ups, c.ats, c.reasons = append(c.ids, r.DeviceID), append(c.boots, int64(r.BootCount)),
			append(c.ups, int64(r.UplinkCount)), append(c.ats, micros(r.ReceivedAt)), append(c.reasons, string(r.RebootReason))
		c.sl, c.mo, c.gn, c.wi, c.ot, c.dt = append(c.sl, int64(a.Sleep)), append(c.mo, int64(a.Modem)), append(c.gn, int64(a.GNSS)),
			append(c.wi, int64(a.WiFi)), append(c.ot, int64(a.Other)), append(c.dt, r.DeviceTimeMs)
		if j, ok := c.latest[r.DeviceID]; !ok || newer(r, recs[j]) {
			c.latest[r.DeviceID] = i
		}
		// One copy's sensor rows per key: a batch may hold the same
		// uplink twice (a spool replay), and the join would match both.
		if c.seen[r.Key()] {
			continue
		}
		c.seen[r.Key()] = true
		at := micros(r.ReceivedAt)
		for i, t := range r.Temperatures {
			c.addSensor(r, at, i, "t", int64(t), false)
		}
		for i, w := range r.WifiScans {
			c.bssids = append(c.bssids, w.BSSID)
			c.addSensor(r, at, len(r.Temperatures)+i, "w", int64(w.RSSIdBm), true)
		}
	}
	// The BSSIDs are sliced only now: c.bssids no longer grows.
	next := 0
	for i, kind := range c.sKinds {
		if kind == "w" {
			c.sBSSID[i] = c.bssids[next][:]
			next++
		}
	}
	for _, i := range c.latest {
		r := &recs[i]
		c.buf = device.AppendJSONStringMap(c.buf, r.Config)
		c.cEnds = append(c.cEnds, len(c.buf))
		c.buf = appendAckJSON(c.buf, r.Ack)
		c.cEnds = append(c.cEnds, len(c.buf))
		c.cIDs, c.cFw, c.cHw = append(c.cIDs, r.DeviceID), append(c.cFw, r.Firmware), append(c.cHw, r.Hardware)
		c.cBoots, c.cUps, c.cAts = append(c.cBoots, int64(r.BootCount)), append(c.cUps, int64(r.UplinkCount)), append(c.cAts, micros(r.ReceivedAt))
	}
	start := 0
	for j := 0; j < len(c.cEnds); j += 2 {
		c.cConf = append(c.cConf, c.buf[start:c.cEnds[j]])
		c.cAck = append(c.cAck, c.buf[c.cEnds[j]:c.cEnds[j+1]])
		start = c.cEnds[j+1]
	}
	_, err := db.ExecContext(ctx, pgInsertUplinks, c.ids, c.boots, c.ups, c.ats, c.reasons, c.sl, c.mo, c.gn, c.wi, c.ot, c.dt,
		c.sIDs, c.sAts, c.sBoots, c.sUps, c.sIdx, c.sKinds, c.sVals, c.sBSSID,
		c.cIDs, c.cConf, c.cAck, c.cFw, c.cHw, c.cBoots, c.cUps, c.cAts)
	return classify(err)
}

func (c *unnestCols) addSensor(r device.Record, at int64, idx int, kind string, v int64, wifi bool) {
	c.sIDs, c.sAts, c.sBoots, c.sUps = append(c.sIDs, r.DeviceID), append(c.sAts, at), append(c.sBoots, int64(r.BootCount)), append(c.sUps, int64(r.UplinkCount))
	c.sIdx, c.sKinds, c.sVals, c.sBSSID = append(c.sIdx, int64(idx)), append(c.sKinds, kind), append(c.sVals, v), append(c.sBSSID, nil)
}
