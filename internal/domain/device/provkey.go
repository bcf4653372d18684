package device

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/liveplane/liveplane/internal/domain"
)

// ProvisioningKey lets devices enrol themselves in an account: an uplink
// from an unknown device id carrying the key's secret creates the device.
// Only a hash of the secret is kept.
type ProvisioningKey struct {
	ID          string
	AccountID   string
	Description string
	Hash        string
	MaxUses     uint32    // 0 = unlimited
	Uses        uint32    // devices it enrolled (deleted ones no longer count)
	ExpiresAt   time.Time // zero = never
	CreatedAt   time.Time
	RevokedAt   time.Time // zero = active
}

// Usable reports whether the key may enrol one more device at now.
func (k ProvisioningKey) Usable(now time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)) &&
		(k.MaxUses == 0 || k.Uses < k.MaxUses)
}

// provKeyPrefix makes a leaked provisioning key recognisable.
const provKeyPrefix = "lpp_"

// Events of provisioning keys.
const (
	EventProvKeyCreated = "provkey.created"
	EventProvKeyRevoked = "provkey.revoked"
)

// MaxDescriptionLen bounds a provisioning key's description.
const MaxDescriptionLen = 128

// CreateProvisioningKey mints a key for an account the caller may see; the
// secret is returned this once.
func (s *Service) CreateProvisioningKey(ctx context.Context, accountID, description string, maxUses uint32, expires time.Time) (ProvisioningKey, string, error) {
	const op = "device.CreateProvisioningKey"
	p, err := principal(ctx, op)
	if err != nil {
		return ProvisioningKey{}, "", err
	}
	if !domain.ValidID(accountID) {
		return ProvisioningKey{}, "", domain.Errorf(domain.CodeInvalid, op, "account_id: not a valid account id")
	}
	if !p.CanSee(accountID) {
		return ProvisioningKey{}, "", domain.Errorf(domain.CodeNotFound, op, "account %s not found", accountID)
	}
	if len(description) > MaxDescriptionLen || !utf8.ValidString(description) {
		return ProvisioningKey{}, "", domain.Errorf(domain.CodeInvalid, op, "description: at most %d bytes of UTF-8", MaxDescriptionLen)
	}
	now := s.clock.Now()
	if !expires.IsZero() && !expires.After(now) {
		return ProvisioningKey{}, "", domain.Errorf(domain.CodeInvalid, op, "expire_time: must be in the future")
	}
	secret := provKeyPrefix + strings.TrimPrefix(newKey(), keyPrefix)
	k := ProvisioningKey{
		ID: domain.NewID(), AccountID: accountID, Description: description, Hash: HashKey(secret),
		MaxUses: maxUses, ExpiresAt: expires.UTC().Truncate(time.Microsecond), CreatedAt: now,
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := s.liveAccount(ctx, tx, op, accountID); err != nil {
			return err
		}
		if err := tx.InsertProvisioningKey(ctx, k); err != nil {
			return err
		}
		return tx.Append(ctx, provKeyEvent(EventProvKeyCreated, k, now))
	})
	if err != nil {
		return ProvisioningKey{}, "", domain.Wrap(op, err)
	}
	k.Hash = ""
	return k, secret, nil
}

// ProvisioningKeys lists an account's keys (revoked ones included).
func (s *Service) ProvisioningKeys(ctx context.Context, accountID string) ([]ProvisioningKey, error) {
	const op = "device.ProvisioningKeys"
	p, err := principal(ctx, op)
	if err != nil {
		return nil, err
	}
	if accountID == "" && !p.Admin {
		accountID = p.AccountID
	}
	if !domain.ValidID(accountID) {
		return nil, domain.Errorf(domain.CodeInvalid, op, "account_id: required (a valid account id)")
	}
	if !p.CanSee(accountID) {
		return nil, domain.Errorf(domain.CodeNotFound, op, "account %s not found", accountID)
	}
	list, err := s.store.ProvisioningKeys(ctx, accountID)
	for i := range list {
		list[i].Hash = ""
	}
	return list, domain.Wrap(op, err)
}

// RevokeProvisioningKey stops enrolments with the key; idempotent. Devices
// it enrolled keep working.
func (s *Service) RevokeProvisioningKey(ctx context.Context, id string) (ProvisioningKey, error) {
	const op = "device.RevokeProvisioningKey"
	p, err := principal(ctx, op)
	if err != nil {
		return ProvisioningKey{}, err
	}
	if !domain.ValidID(id) {
		return ProvisioningKey{}, domain.Errorf(domain.CodeInvalid, op, "id: not a valid key id")
	}
	notFound := domain.Errorf(domain.CodeNotFound, op, "provisioning key %s not found", id)
	var out ProvisioningKey
	err = s.store.Update(ctx, func(tx Tx) error {
		k, err := tx.ProvisioningKey(ctx, id)
		if domain.Is(err, domain.CodeNotFound) || err == nil && !p.CanSee(k.AccountID) {
			return notFound
		}
		if err != nil {
			return err
		}
		out = k
		if !k.RevokedAt.IsZero() {
			return nil
		}
		now := s.clock.Now()
		k.RevokedAt = now
		if err := tx.UpdateProvisioningKey(ctx, k); err != nil {
			return err
		}
		out = k
		return tx.Append(ctx, provKeyEvent(EventProvKeyRevoked, k, now))
	})
	if err != nil {
		return ProvisioningKey{}, domain.Wrap(op, err)
	}
	s.ingest.provKeys.forget() // this replica refuses it at once
	out.Hash = ""
	return out, nil
}

func provKeyEvent(typ string, k ProvisioningKey, now time.Time) domain.Event {
	k.Hash = ""
	v := int64(1)
	if !k.RevokedAt.IsZero() {
		v = 2
	}
	return domain.Event{ID: domain.NewID(), Type: typ, AggregateID: k.ID, AggregateVersion: v, Time: now, Data: k}
}
