package sqlstore

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

const provKeyCols = "id, account_id, description, hash, max_uses, expires_at, created_at, revoked_at"

// provKeyUses counts the devices a key enrolled.
const provKeyUses = "(SELECT count(*) FROM devices WHERE enrolled_with = provisioning_keys.id)"

func scanProvKey(r scanner) (device.ProvisioningKey, error) {
	var k device.ProvisioningKey
	var maxUses, uses, expires, created, revoked int64
	if err := r.Scan(&k.ID, &k.AccountID, &k.Description, &k.Hash, &maxUses, &expires, &created, &revoked, &uses); err != nil {
		return device.ProvisioningKey{}, classify(err)
	}
	k.MaxUses, k.Uses = uint32(maxUses), uint32(uses)
	k.ExpiresAt, k.CreatedAt, k.RevokedAt = fromMicros(expires), fromMicros(created), fromMicros(revoked)
	return k, nil
}

func (d deviceStore) ProvisioningKeyByHash(ctx context.Context, hash string) (device.ProvisioningKey, error) {
	return scanProvKey(d.s.rdb.QueryRowContext(ctx, d.s.q("SELECT "+provKeyCols+", 0 FROM provisioning_keys WHERE hash = ?"), hash))
}

func (d deviceStore) ProvisioningKeys(ctx context.Context, accountID string) ([]device.ProvisioningKey, error) {
	rows, err := d.s.rdb.QueryContext(ctx, d.s.q("SELECT "+provKeyCols+", "+provKeyUses+" FROM provisioning_keys WHERE account_id = ? ORDER BY id"), accountID)
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
	return scanProvKey(t.queryRow(ctx, "SELECT "+provKeyCols+", "+provKeyUses+" FROM provisioning_keys WHERE id = ?"+t.forUpdate(), id))
}

func (t *Tx) InsertProvisioningKey(ctx context.Context, k device.ProvisioningKey) error {
	_, err := t.exec(ctx, "INSERT INTO provisioning_keys ("+provKeyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.AccountID, k.Description, k.Hash, int64(k.MaxUses), micros(k.ExpiresAt),
		micros(k.CreatedAt), micros(k.RevokedAt))
	return err
}

func (t *Tx) UpdateProvisioningKey(ctx context.Context, k device.ProvisioningKey) error {
	return t.one(t.exec(ctx, "UPDATE provisioning_keys SET description = ?, max_uses = ?, expires_at = ?, revoked_at = ? WHERE id = ?",
		k.Description, int64(k.MaxUses), micros(k.ExpiresAt), micros(k.RevokedAt), k.ID))
}

// UseProvisioningKey checks the key in the enrolment's transaction. Keys
// without a use limit are only read, so a fleet enrolling at once with one
// key does not queue on its row; a limited key's row is locked (PostgreSQL)
// and its enrolled devices counted, so the limit is exact.
func (t *Tx) UseProvisioningKey(ctx context.Context, id string, now time.Time) error {
	var maxUses, expires, revoked int64
	if err := t.queryRow(ctx, "SELECT max_uses, expires_at, revoked_at FROM provisioning_keys WHERE id = ?", id).
		Scan(&maxUses, &expires, &revoked); err != nil {
		return classify(err)
	}
	notUsable := &domain.Error{Code: domain.CodeNotFound, Op: "sqlstore", Msg: "provisioning key not usable"}
	if revoked != 0 || expires != 0 && expires <= micros(now) {
		return notUsable
	}
	if maxUses == 0 {
		return nil
	}
	// Lock first, count in a statement of its own: on PostgreSQL (read
	// committed) a new statement sees what the previous holder committed.
	var got string
	if err := t.queryRow(ctx, "SELECT id FROM provisioning_keys WHERE id = ?"+t.forUpdate(), id).Scan(&got); err != nil {
		return classify(err)
	}
	var uses int64
	if err := t.queryRow(ctx, "SELECT count(*) FROM devices WHERE enrolled_with = ?", id).Scan(&uses); err != nil {
		return classify(err)
	}
	if uses >= maxUses {
		return notUsable
	}
	return nil
}
