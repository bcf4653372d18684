package sqlstore

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain/device"
)

const provKeyCols = "id, account_id, description, hash, max_uses, uses, expires_at, created_at, revoked_at"

func scanProvKey(r scanner) (device.ProvisioningKey, error) {
	var k device.ProvisioningKey
	var maxUses, uses, expires, created, revoked int64
	if err := r.Scan(&k.ID, &k.AccountID, &k.Description, &k.Hash, &maxUses, &uses, &expires, &created, &revoked); err != nil {
		return device.ProvisioningKey{}, classify(err)
	}
	k.MaxUses, k.Uses = uint32(maxUses), uint32(uses)
	k.ExpiresAt, k.CreatedAt, k.RevokedAt = fromMicros(expires), fromMicros(created), fromMicros(revoked)
	return k, nil
}

func (d deviceStore) ProvisioningKeyByHash(ctx context.Context, hash string) (device.ProvisioningKey, error) {
	return scanProvKey(d.s.rdb.QueryRowContext(ctx, d.s.q("SELECT "+provKeyCols+" FROM provisioning_keys WHERE hash = ?"), hash))
}

func (d deviceStore) ProvisioningKeys(ctx context.Context, accountID string) ([]device.ProvisioningKey, error) {
	rows, err := d.s.rdb.QueryContext(ctx, d.s.q("SELECT "+provKeyCols+" FROM provisioning_keys WHERE account_id = ? ORDER BY id"), accountID)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []device.ProvisioningKey
	for rows.Next() {
		k, err := scanProvKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, classify(rows.Err())
}

func (t *Tx) ProvisioningKey(ctx context.Context, id string) (device.ProvisioningKey, error) {
	return scanProvKey(t.queryRow(ctx, "SELECT "+provKeyCols+" FROM provisioning_keys WHERE id = ?"+t.forUpdate(), id))
}

func (t *Tx) InsertProvisioningKey(ctx context.Context, k device.ProvisioningKey) error {
	_, err := t.exec(ctx, "INSERT INTO provisioning_keys ("+provKeyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.AccountID, k.Description, k.Hash, int64(k.MaxUses), int64(k.Uses), micros(k.ExpiresAt),
		micros(k.CreatedAt), micros(k.RevokedAt))
	return err
}

func (t *Tx) UpdateProvisioningKey(ctx context.Context, k device.ProvisioningKey) error {
	return t.one(t.exec(ctx, "UPDATE provisioning_keys SET description = ?, max_uses = ?, uses = ?, expires_at = ?, revoked_at = ? WHERE id = ?",
		k.Description, int64(k.MaxUses), int64(k.Uses), micros(k.ExpiresAt), micros(k.RevokedAt), k.ID))
}

func (t *Tx) UseProvisioningKey(ctx context.Context, id string, now time.Time) error {
	return t.one(t.exec(ctx, "UPDATE provisioning_keys SET uses = uses + 1 WHERE id = ? AND revoked_at = 0"+
		" AND (max_uses = 0 OR uses < max_uses) AND (expires_at = 0 OR expires_at > ?)", id, micros(now)))
}
