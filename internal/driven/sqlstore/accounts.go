package sqlstore

import (
	"context"
	"database/sql"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// Accounts returns the account.Store view of s.
func (s *Store) Accounts() account.Store { return accountStore{s} }

type accountStore struct{ s *Store }

var (
	_ account.Store = accountStore{}
	_ account.Tx    = (*Tx)(nil)
)

const accountCols = "id, name, display_name, state, generation, created_at, updated_at, quota_cpu, quota_memory, quota_pods, group_name"

type scanner interface{ Scan(dest ...any) error }

func scanAccount(r scanner) (account.Account, error) {
	var a account.Account
	var state string
	var created, updated int64
	if err := r.Scan(&a.ID, &a.Name, &a.DisplayName, &state, &a.Generation, &created, &updated,
		&a.Quota.CPU, &a.Quota.Memory, &a.Quota.Pods, &a.Group); err != nil {
		return account.Account{}, classify(err)
	}
	a.State = account.State(state)
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

const keyCols = "id, account_id, description, hash, created_at, revoked_at"

func scanKey(r scanner) (account.APIKey, error) {
	var k account.APIKey
	var created, revoked int64
	if err := r.Scan(&k.ID, &k.AccountID, &k.Description, &k.Hash, &created, &revoked); err != nil {
		return account.APIKey{}, classify(err)
	}
	k.CreatedAt, k.RevokedAt = fromMicros(created), fromMicros(revoked)
	return k, nil
}

func (a accountStore) Update(ctx context.Context, fn func(account.Tx) error) error {
	return a.s.update(ctx, func(t *Tx) error { return fn(t) })
}

func (a accountStore) Account(ctx context.Context, id string) (account.Account, error) {
	return scanAccount(a.s.rdb.QueryRowContext(ctx, a.s.q("SELECT "+accountCols+" FROM accounts WHERE id = ?"), id))
}

func (a accountStore) Accounts(ctx context.Context, after string, limit int, includeDeleted bool) ([]account.Account, error) {
	if includeDeleted {
		return a.accounts(ctx, "WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	}
	// Tombstones are skipped before LIMIT, so a page is full whenever enough
	// live accounts remain; the id walk still reads past them.
	return a.accounts(ctx, "WHERE id > ? AND state <> ? ORDER BY id LIMIT ?", after, string(account.StateDeleted), limit)
}

func (a accountStore) AccountsInState(ctx context.Context, state account.State, limit int) ([]account.Account, error) {
	return a.accounts(ctx, "WHERE state = ? ORDER BY id LIMIT ?", string(state), limit)
}

// accounts reads the accounts a WHERE ... clause selects.
func (a accountStore) accounts(ctx context.Context, where string, args ...any) ([]account.Account, error) {
	rows, err := a.s.rdb.QueryContext(ctx, a.s.q("SELECT "+accountCols+" FROM accounts "+where), args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []account.Account
	for rows.Next() {
		acc, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, acc)
	}
	return out, classify(rows.Err())
}

func (a accountStore) APIKeys(ctx context.Context, accountID string) ([]account.APIKey, error) {
	rows, err := a.s.rdb.QueryContext(ctx,
		a.s.q("SELECT "+keyCols+" FROM api_keys WHERE account_id = ? ORDER BY id"), accountID)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []account.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, classify(rows.Err())
}

func (a accountStore) APIKeyByHash(ctx context.Context, hash string) (account.APIKey, error) {
	return scanKey(a.s.rdb.QueryRowContext(ctx, a.s.q("SELECT "+keyCols+" FROM api_keys WHERE hash = ?"), hash))
}

func (a accountStore) AdminTokenExists(ctx context.Context, hash string) (bool, error) {
	return a.s.exists(ctx, "SELECT 1 FROM admin_tokens WHERE hash = ?", hash)
}

func (a accountStore) AnyAdminToken(ctx context.Context) (bool, error) {
	return a.s.exists(ctx, "SELECT 1 FROM admin_tokens")
}

func (s *Store) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := s.rdb.QueryRowContext(ctx, s.q(query), args...).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, classify(err)
}

// Tx side.

func (t *Tx) Account(ctx context.Context, id string) (account.Account, error) {
	return scanAccount(t.queryRow(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?"+t.forUpdate(), id))
}

func (t *Tx) InsertAccount(ctx context.Context, a account.Account) error {
	_, err := t.exec(ctx, "INSERT INTO accounts ("+accountCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ID, a.Name, a.DisplayName, string(a.State), a.Generation, micros(a.CreatedAt), micros(a.UpdatedAt),
		a.Quota.CPU, a.Quota.Memory, a.Quota.Pods, a.Group)
	return err
}

func (t *Tx) UpdateAccount(ctx context.Context, a account.Account) error {
	return t.one(t.exec(ctx, "UPDATE accounts SET display_name = ?, state = ?, generation = ?, updated_at = ?, "+
		"quota_cpu = ?, quota_memory = ?, quota_pods = ?, group_name = ? WHERE id = ?",
		a.DisplayName, string(a.State), a.Generation, micros(a.UpdatedAt), a.Quota.CPU, a.Quota.Memory, a.Quota.Pods, a.Group, a.ID))
}

func (t *Tx) InsertAPIKey(ctx context.Context, k account.APIKey) error {
	_, err := t.exec(ctx, "INSERT INTO api_keys ("+keyCols+") VALUES (?, ?, ?, ?, ?, ?)",
		k.ID, k.AccountID, k.Description, k.Hash, micros(k.CreatedAt), micros(k.RevokedAt))
	return err
}

func (t *Tx) APIKey(ctx context.Context, id string) (account.APIKey, error) {
	return scanKey(t.queryRow(ctx, "SELECT "+keyCols+" FROM api_keys WHERE id = ?"+t.forUpdate(), id))
}

func (t *Tx) UpdateAPIKey(ctx context.Context, k account.APIKey) error {
	return t.one(t.exec(ctx, "UPDATE api_keys SET description = ?, revoked_at = ? WHERE id = ?",
		k.Description, micros(k.RevokedAt), k.ID))
}

func (t *Tx) RevokeAPIKeys(ctx context.Context, accountID string, at account.Time) error {
	_, err := t.exec(ctx, "UPDATE api_keys SET revoked_at = ? WHERE account_id = ? AND revoked_at = 0",
		micros(at), accountID)
	return err
}

func (t *Tx) InsertAdminToken(ctx context.Context, id, hash string) error {
	_, err := t.exec(ctx, "INSERT INTO admin_tokens (slot, id, hash, created_at) VALUES (1, ?, ?, ?)",
		id, hash, micros(t.s.now()))
	return err
}

// one checks that an UPDATE hit exactly one row.
func (t *Tx) one(r interface{ RowsAffected() (int64, error) }, err error) error {
	if err != nil {
		return err
	}
	if n, err := r.RowsAffected(); err == nil && n == 0 {
		return &domain.Error{Code: domain.CodeNotFound, Op: "sqlstore", Msg: "row not found"}
	}
	return nil
}
