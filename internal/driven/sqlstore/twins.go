package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// Configuration documents are stored as JSON objects {"KEY": {"v": value,
// "t": updated at (unix µs)}}, decoded in one pass; reasons as plain string
// maps.

type docEntry struct {
	V string `json:"v"`
	T int64  `json:"t"`
}

func encodeValues(v device.Values) string {
	m := make(map[string]docEntry, len(v))
	for k, e := range v {
		m[k] = docEntry{e.Value, micros(e.UpdatedAt)}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func encodeReasons(m map[string]string) string {
	if m == nil {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

const twinCols = "device_id, account_id, version, desired, reported, invalid, seen, last_boot, last_uplink, acked_version, rejected, sent_version, unacked, drift, updated_at"

// twinRow is a device_twins row as stored: what a read scans and what
// PutTwin writes, so the SQLite twin cache holds exactly what a read of the
// row would return.
type twinRow struct {
	deviceID, accountID                  string
	version, acked, sent, drift, updated int64
	desired, reported, invalid, rejected string
	seen                                 bool
	boot, uplink, unacked                int64
}

func rowOf(tw device.Twin) twinRow {
	return twinRow{deviceID: tw.DeviceID, accountID: tw.AccountID, version: int64(tw.Version),
		acked: int64(tw.AckedVersion), sent: int64(tw.SentVersion), drift: int64(tw.Drift), updated: micros(tw.UpdatedAt),
		desired: encodeValues(tw.Desired), reported: encodeValues(tw.Reported), invalid: encodeReasons(tw.Invalid),
		rejected: encodeReasons(tw.Rejected), seen: tw.Seen, boot: int64(tw.LastBoot), uplink: int64(tw.LastUplink),
		unacked: int64(tw.Unacked)}
}

func (w twinRow) twin() (device.Twin, error) {
	t := device.Twin{DeviceID: w.deviceID, AccountID: w.accountID, Seen: w.seen}
	t.Version, t.AckedVersion, t.SentVersion, t.Drift = uint64(w.version), uint64(w.acked), uint64(w.sent), uint64(w.drift)
	t.LastBoot, t.LastUplink, t.Unacked = uint32(w.boot), uint32(w.uplink), uint32(w.unacked)
	t.UpdatedAt = fromMicros(w.updated)
	var err error
	if t.Desired, err = decodeValues(w.desired); err != nil {
		return device.Twin{}, err
	}
	if t.Reported, err = decodeValues(w.reported); err != nil {
		return device.Twin{}, err
	}
	if t.Invalid, err = decodeReasons(w.invalid); err != nil {
		return device.Twin{}, err
	}
	if t.Rejected, err = decodeReasons(w.rejected); err != nil {
		return device.Twin{}, err
	}
	return t, nil
}

func scanTwin(r scanner, extra ...any) (device.Twin, error) {
	var w twinRow
	dest := append([]any{&w.deviceID, &w.accountID, &w.version, &w.desired, &w.reported, &w.invalid, &w.seen, &w.boot, &w.uplink,
		&w.acked, &w.rejected, &w.sent, &w.unacked, &w.drift, &w.updated}, extra...)
	if err := r.Scan(dest...); err != nil {
		return device.Twin{}, classify(err)
	}
	return w.twin()
}

func scanDefaults(r scanner, accountID string) (device.Defaults, error) {
	var d device.Defaults
	var version, updated int64
	var vals string
	err := r.Scan(&version, &vals, &updated)
	if err == sql.ErrNoRows {
		return device.Defaults{AccountID: accountID, Values: device.Values{}}, nil
	}
	if err != nil {
		return device.Defaults{}, classify(err)
	}
	d.AccountID, d.Version, d.UpdatedAt = accountID, uint64(version), fromMicros(updated)
	d.Values, err = decodeValues(vals)
	return d, err
}

func (d deviceStore) Twin(ctx context.Context, deviceID string) (device.Twin, error) {
	return scanTwin(d.s.rdb.QueryRowContext(ctx, d.s.q("SELECT "+twinCols+" FROM device_twins WHERE device_id = ?"), deviceID))
}

// TwinConfig reads a device's twin and its account's defaults in one query
// (the per-uplink read of reconciliation), from the twin cache when it has
// them (twincache.go).
func (d deviceStore) TwinConfig(ctx context.Context, deviceID string) (device.Twin, device.Defaults, error) {
	c := d.s.twinCache
	if t, def, ok := c.get(deviceID); ok {
		d.s.metrics.twinHits.Inc()
		return t, def, nil
	}
	d.s.metrics.twinMisses.Inc()
	tok := c.token()
	t, def, err := d.s.readTwinConfig(ctx, deviceID)
	if err == nil {
		c.fill(tok, t, def)
	}
	return t, def, err
}

// readTwinConfig is TwinConfig from the database: batched with other
// uplinks' reads on PostgreSQL, a query of its own on SQLite.
func (s *Store) readTwinConfig(ctx context.Context, deviceID string) (device.Twin, device.Defaults, error) {
	if s.twinReads != nil {
		return s.twinReads.get(ctx, deviceID)
	}
	return scanTwinConfig(s.rdb.QueryRowContext(ctx, s.q(twinConfigQuery+"t.device_id = ?"), deviceID))
}

// twinConfigQuery reads twins with their account's defaults; the caller
// appends the condition on t.device_id.
var twinConfigQuery = "SELECT " + prefixed("t.", twinCols) + ", d.version, d.vals, d.updated_at" +
	" FROM device_twins t LEFT JOIN config_defaults d ON d.account_id = t.account_id WHERE "

// scanTwinConfig reads a twin row joined with its account's defaults.
func scanTwinConfig(r scanner) (device.Twin, device.Defaults, error) {
	var dv, du sql.NullInt64
	var vals sql.NullString
	t, err := scanTwin(r, &dv, &vals, &du)
	if err != nil {
		return device.Twin{}, device.Defaults{}, err
	}
	def := device.Defaults{AccountID: t.AccountID, Version: uint64(dv.Int64), UpdatedAt: fromMicros(du.Int64), Values: device.Values{}}
	if vals.Valid {
		if def.Values, err = decodeValues(vals.String); err != nil {
			return device.Twin{}, device.Defaults{}, err
		}
	}
	return t, def, nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

func (d deviceStore) Defaults(ctx context.Context, accountID string) (device.Defaults, error) {
	return scanDefaults(d.s.rdb.QueryRowContext(ctx,
		d.s.q("SELECT version, vals, updated_at FROM config_defaults WHERE account_id = ?"), accountID), accountID)
}

const historyCols = "id, device_id, account_id, key, old_value, new_value, version, actor, changed_at, acked_at"

func (d deviceStore) ConfigHistory(ctx context.Context, q device.HistoryQuery) ([]device.ConfigChange, error) {
	where, arg := "device_id = ?", q.DeviceID
	if q.DeviceID == "" {
		where, arg = "device_id = '' AND account_id = ?", q.AccountID
	}
	before := q.Before
	if before == "" {
		before = "ffffffff-ffff-ffff-ffff-ffffffffffff" // above every id
	}
	rows, err := d.s.rdb.QueryContext(ctx, d.s.q("SELECT "+historyCols+" FROM config_history WHERE "+where+
		" AND id < ? ORDER BY id DESC LIMIT ?"), arg, before, q.Limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []device.ConfigChange
	for rows.Next() {
		var c device.ConfigChange
		var old, nv sql.NullString
		var version, changed, acked int64
		if err := rows.Scan(&c.ID, &c.DeviceID, &c.AccountID, &c.Key, &old, &nv, &version, &c.Actor, &changed, &acked); err != nil {
			return nil, classify(err)
		}
		if old.Valid {
			c.Old = &old.String
		}
		if nv.Valid {
			c.New = &nv.String
		}
		c.Version, c.At, c.AckedAt = uint64(version), fromMicros(changed), fromMicros(acked)
		out = append(out, c)
	}
	return out, classify(rows.Err())
}

// Tx side.

func (t *Tx) Twin(ctx context.Context, deviceID string) (device.Twin, error) {
	return scanTwin(t.queryRow(ctx, "SELECT "+twinCols+" FROM device_twins WHERE device_id = ?"+t.forUpdate(), deviceID))
}

func (t *Tx) PutTwin(ctx context.Context, tw device.Twin) error {
	w := rowOf(tw)
	_, err := t.exec(ctx, "INSERT INTO device_twins ("+twinCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"+
		" ON CONFLICT (device_id) DO UPDATE SET account_id = excluded.account_id, version = excluded.version, desired = excluded.desired,"+
		" reported = excluded.reported, invalid = excluded.invalid, seen = excluded.seen, last_boot = excluded.last_boot,"+
		" last_uplink = excluded.last_uplink, acked_version = excluded.acked_version, rejected = excluded.rejected,"+
		" sent_version = excluded.sent_version, unacked = excluded.unacked, drift = excluded.drift, updated_at = excluded.updated_at",
		w.deviceID, w.accountID, w.version, w.desired, w.reported, w.invalid, w.seen, w.boot, w.uplink, w.acked,
		w.rejected, w.sent, w.unacked, w.drift, w.updated)
	t.wrote(twinWrite{row: &w}, err)
	return err
}

func (t *Tx) Defaults(ctx context.Context, accountID string) (device.Defaults, error) {
	return scanDefaults(t.queryRow(ctx, "SELECT version, vals, updated_at FROM config_defaults WHERE account_id = ?", accountID), accountID)
}

func (t *Tx) LockDefaults(ctx context.Context, accountID string) (device.Defaults, error) {
	_, err := t.exec(ctx, "INSERT INTO config_defaults (account_id, version, vals, updated_at) VALUES (?, 0, '{}', 0)"+
		" ON CONFLICT (account_id) DO NOTHING", accountID)
	t.wrote(twinWrite{drop: accountID}, nil) // the empty row reads as no row, but the cache need not rely on it
	if err != nil {
		return device.Defaults{}, err
	}
	return scanDefaults(t.queryRow(ctx, "SELECT version, vals, updated_at FROM config_defaults WHERE account_id = ?"+t.forUpdate(), accountID), accountID)
}

func (t *Tx) PutDefaults(ctx context.Context, d device.Defaults) error {
	vals := encodeValues(d.Values)
	_, err := t.exec(ctx, "INSERT INTO config_defaults (account_id, version, vals, updated_at) VALUES (?, ?, ?, ?)"+
		" ON CONFLICT (account_id) DO UPDATE SET version = excluded.version, vals = excluded.vals, updated_at = excluded.updated_at",
		d.AccountID, int64(d.Version), vals, micros(d.UpdatedAt))
	t.wrote(twinWrite{defaults: &defaultsRow{accountID: d.AccountID, version: int64(d.Version), vals: vals, updated: micros(d.UpdatedAt)}}, err)
	return err
}

func (t *Tx) AppendConfigChanges(ctx context.Context, changes ...device.ConfigChange) error {
	if len(changes) == 0 {
		return nil
	}
	// One multi-row statement: a seeded enrolment writes several rows.
	var b strings.Builder
	b.WriteString("INSERT INTO config_history (" + historyCols + ") VALUES ")
	args := make([]any, 0, 10*len(changes))
	for i, c := range changes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, c.ID, c.DeviceID, c.AccountID, c.Key, nullable(c.Old), nullable(c.New), int64(c.Version),
			c.Actor, micros(c.At), micros(c.AckedAt))
	}
	_, err := t.exec(ctx, b.String(), args...)
	return err
}

func nullable(s *string) sql.NullString {
	if s == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *s, Valid: true}
}

func (t *Tx) AckConfigChanges(ctx context.Context, deviceID string, version uint64, at time.Time) error {
	_, err := t.exec(ctx, "UPDATE config_history SET acked_at = ? WHERE device_id = ? AND acked_at = 0 AND version <= ?",
		micros(at), deviceID, int64(version))
	return err
}
