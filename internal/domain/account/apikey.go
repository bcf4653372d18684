package account

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// Time is an alias so event helpers read naturally.
type Time = time.Time

func newAPIKey(accountID, description string, now time.Time) (APIKey, string) {
	secret := newSecret(apiKeyTokenPrefix)
	return APIKey{
		ID: domain.NewID(), AccountID: accountID, Description: description,
		Hash: HashToken(secret), CreatedAt: now,
	}, secret
}

// keyEvent records a key change. The hash never leaves the store.
func keyEvent(typ string, k APIKey, version int64, now time.Time) domain.Event {
	k.Hash = ""
	return domain.Event{
		ID: domain.NewID(), Type: typ, AggregateID: k.ID, AggregateVersion: version,
		Time: now, Data: k,
	}
}

// CreateAPIKey mints a key for an account the caller may see and returns its
// secret, which is never stored and never shown again.
func (s *Service) CreateAPIKey(ctx context.Context, accountID, description string) (APIKey, string, error) {
	const op = "account.CreateAPIKey"
	if err := requireAccount(ctx, op, accountID); err != nil {
		return APIKey{}, "", err
	}
	if err := validateText(op, "description", description, MaxDescriptionLen); err != nil {
		return APIKey{}, "", err
	}
	now := s.clock.Now()
	k, secret := newAPIKey(accountID, description, now)
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := s.current(ctx, tx, op, accountID, 0)
		if err != nil {
			return err
		}
		if a.State == StateDeleting {
			return domain.Errorf(domain.CodeInvalid, op, "account %s is being deleted", accountID)
		}
		if err := tx.InsertAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.Append(ctx, keyEvent(EventAPIKeyCreated, k, 1, now))
	})
	if err != nil {
		return APIKey{}, "", domain.Wrap(op, err)
	}
	k.Hash = ""
	return k, secret, nil
}

// APIKeys lists an account's keys, revoked ones included, without hashes.
func (s *Service) APIKeys(ctx context.Context, accountID string) ([]APIKey, error) {
	const op = "account.APIKeys"
	if err := requireAccount(ctx, op, accountID); err != nil {
		return nil, err
	}
	keys, err := s.store.APIKeys(ctx, accountID)
	for i := range keys {
		keys[i].Hash = ""
	}
	return keys, domain.Wrap(op, err)
}

// RevokeAPIKey makes a key stop authenticating from the next call on.
// Revoking a revoked key is a no-op.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) (APIKey, error) {
	const op = "account.RevokeAPIKey"
	p, err := principal(ctx, op)
	if err != nil {
		return APIKey{}, err
	}
	if !domain.ValidID(id) {
		return APIKey{}, domain.Errorf(domain.CodeInvalid, op, "id: not a valid key id")
	}
	var out APIKey
	err = s.store.Update(ctx, func(tx Tx) error {
		k, err := tx.APIKey(ctx, id)
		if domain.Is(err, domain.CodeNotFound) || (err == nil && !p.CanSee(k.AccountID)) {
			return domain.Errorf(domain.CodeNotFound, op, "api key %s not found", id)
		}
		if err != nil {
			return err
		}
		if !k.Revoked() {
			k.RevokedAt = s.clock.Now()
			if err := tx.UpdateAPIKey(ctx, k); err != nil {
				return err
			}
			if err := tx.Append(ctx, keyEvent(EventAPIKeyRevoked, k, 2, k.RevokedAt)); err != nil {
				return err
			}
		}
		out = k
		return nil
	})
	out.Hash = ""
	return out, domain.Wrap(op, err)
}
