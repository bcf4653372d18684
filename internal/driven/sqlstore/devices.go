package sqlstore

import (
	"context"
	"database/sql"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

// Devices returns the device.Store view of s.
func (s *Store) Devices() device.Store { return deviceStore{s} }

type deviceStore struct{ s *Store }

var (
	_ device.Store = deviceStore{}
	_ device.Tx    = (*Tx)(nil)
)

const deviceCols = "id, account_id, name, key_hash, key_generation, disabled, generation, created_at, updated_at, enrolled_with"

func scanDevice(r scanner) (device.Device, error) {
	var d device.Device
	var created, updated int64
	if err := r.Scan(&d.ID, &d.AccountID, &d.Name, &d.KeyHash, &d.KeyGeneration, &d.Disabled,
		&d.Generation, &created, &updated, &d.EnrolledWith); err != nil {
		return device.Device{}, classify(err)
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return d, nil
}

func (d deviceStore) Update(ctx context.Context, fn func(device.Tx) error) error {
	return d.s.update(ctx, func(t *Tx) error { return fn(t) })
}

func (d deviceStore) Device(ctx context.Context, id string) (device.Device, error) {
	return scanDevice(d.s.rdb.QueryRowContext(ctx, d.s.q("SELECT "+deviceCols+" FROM devices WHERE id = ?"), id))
}

func (d deviceStore) Devices(ctx context.Context, accountID, after string, limit int) ([]device.Device, error) {
	rows, err := d.s.rdb.QueryContext(ctx,
		d.s.q("SELECT "+deviceCols+" FROM devices WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?"),
		accountID, after, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []device.Device
	for rows.Next() {
		dev, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, dev)
	}
	return out, classify(rows.Err())
}

// Secret reads the named secret, inserting create() first when absent. The
// insert ignores a conflict, so concurrent first calls converge on one value.
func (d deviceStore) Secret(ctx context.Context, name string, create func() []byte) ([]byte, error) {
	var v []byte
	err := d.s.rdb.QueryRowContext(ctx, d.s.q("SELECT value FROM installation_secrets WHERE name = ?"), name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if err != sql.ErrNoRows {
		return nil, classify(err)
	}
	err = d.s.update(ctx, func(t *Tx) error {
		_, err := t.exec(ctx, "INSERT INTO installation_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
			name, create())
		return err
	})
	if err != nil {
		return nil, err
	}
	err = d.s.rdb.QueryRowContext(ctx, d.s.q("SELECT value FROM installation_secrets WHERE name = ?"), name).Scan(&v)
	return v, classify(err)
}

// Tx side.

func (t *Tx) Device(ctx context.Context, id string) (device.Device, error) {
	return scanDevice(t.queryRow(ctx, "SELECT "+deviceCols+" FROM devices WHERE id = ?"+t.forUpdate(), id))
}

func (t *Tx) InsertDevice(ctx context.Context, d device.Device) error {
	_, err := t.exec(ctx, "INSERT INTO devices ("+deviceCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		d.ID, d.AccountID, d.Name, d.KeyHash, d.KeyGeneration, d.Disabled, d.Generation,
		micros(d.CreatedAt), micros(d.UpdatedAt), d.EnrolledWith)
	return err
}

func (t *Tx) UpdateDevice(ctx context.Context, d device.Device) error {
	return t.one(t.exec(ctx, "UPDATE devices SET name = ?, key_hash = ?, key_generation = ?, disabled = ?, generation = ?, updated_at = ? WHERE id = ?",
		d.Name, d.KeyHash, d.KeyGeneration, d.Disabled, d.Generation, micros(d.UpdatedAt), d.ID))
}

func (t *Tx) DeleteDevice(ctx context.Context, id string) error {
	t.wrote(twinWrite{deleted: id}, nil)
	tables := []string{"device_config", "device_twins", "config_history"}
	if t.s.engine == engineSQLite {
		// The uplink rows are found through their indexes (uplinkindex.go).
		if err := t.deleteUplinksSQLite(ctx, id); err != nil {
			return err
		}
	} else {
		tables = append([]string{"sensor_data", "activity"}, tables...)
	}
	for _, table := range tables {
		if _, err := t.exec(ctx, "DELETE FROM "+table+" WHERE device_id = ?", id); err != nil {
			return err
		}
	}
	err := t.one(t.exec(ctx, "DELETE FROM devices WHERE id = ?", id))
	if domain.Is(err, domain.CodeNotFound) {
		return &domain.Error{Code: domain.CodeNotFound, Op: "sqlstore", Msg: "device not found"}
	}
	return err
}
