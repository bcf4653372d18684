package account

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
)

// Store is the system of record for accounts and API keys.
//
// Reads outside Update see every transaction that committed before they
// started (read-your-writes within one store). Errors carry domain codes:
// CodeNotFound for a missing row, CodeConflict for a uniqueness violation,
// CodeUnavailable when the database cannot be reached.
type Store interface {
	// Update runs fn in one write transaction: everything fn writes, events
	// included, commits together or not at all. fn must not keep tx after it
	// returns. When fn returns an error nothing it wrote persists.
	Update(ctx context.Context, fn func(tx Tx) error) error

	Account(ctx context.Context, id string) (Account, error)
	// Accounts lists accounts with ID > after in ID order, at most limit.
	// DELETED accounts are skipped by the query itself unless
	// includeDeleted, so a page holds limit rows whenever that many remain.
	Accounts(ctx context.Context, after string, limit int, includeDeleted bool) ([]Account, error)
	// AccountsInState lists up to limit accounts in state, in ID order.
	AccountsInState(ctx context.Context, state State, limit int) ([]Account, error)
	APIKeys(ctx context.Context, accountID string) ([]APIKey, error)
	// APIKeyByHash finds a key by the hash of its secret, revoked or not.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	// AdminTokenExists reports whether an admin token with this hash exists.
	AdminTokenExists(ctx context.Context, hash string) (bool, error)
	// AnyAdminToken reports whether an admin token was ever created.
	AnyAdminToken(ctx context.Context) (bool, error)
}

// Tx is the write side of one transaction.
type Tx interface {
	// Account reads the current row inside the transaction.
	Account(ctx context.Context, id string) (Account, error)
	// InsertAccount fails with CodeConflict when the name is taken by an
	// account that is not DELETED.
	InsertAccount(ctx context.Context, a Account) error
	UpdateAccount(ctx context.Context, a Account) error
	InsertAPIKey(ctx context.Context, k APIKey) error
	APIKey(ctx context.Context, id string) (APIKey, error)
	UpdateAPIKey(ctx context.Context, k APIKey) error
	// RevokeAPIKeys revokes every valid key of an account at time at.
	RevokeAPIKeys(ctx context.Context, accountID string, at Time) error
	InsertAdminToken(ctx context.Context, id, hash string) error
	// Append adds events to the outbox; they are published after commit.
	Append(ctx context.Context, events ...domain.Event) error
}
