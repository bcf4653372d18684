package account

import (
	"context"
	"encoding/base64"

	"github.com/liveplane/liveplane/internal/domain"
)

// Event types this aggregate records.
const (
	EventCreated       = "account.created"
	EventUpdated       = "account.updated"
	EventDeleted       = "account.deleted"
	EventFinalized     = "account.finalized"
	EventAPIKeyCreated = "apikey.created"
	EventAPIKeyRevoked = "apikey.revoked"
)

// Service holds the account use cases. Every method takes the caller's
// principal from ctx (see WithPrincipal) and checks it before touching state.
type Service struct {
	store Store
	clock domain.Clock
}

func NewService(store Store, clock domain.Clock) *Service {
	return &Service{store: store, clock: clock}
}

func principal(ctx context.Context, op string) (Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return Principal{}, domain.Errorf(domain.CodeUnauthenticated, op, "missing or invalid token")
	}
	return p, nil
}

func requireAdmin(ctx context.Context, op string) error {
	p, err := principal(ctx, op)
	if err != nil {
		return err
	}
	if !p.Admin {
		return domain.Errorf(domain.CodePermissionDenied, op, "requires the admin token")
	}
	return nil
}

// requireAccount checks that the caller may see account id. Callers that may
// not get not_found, so account ids cannot be probed with another's key.
func requireAccount(ctx context.Context, op, id string) error {
	p, err := principal(ctx, op)
	if err != nil {
		return err
	}
	if !domain.ValidID(id) {
		return domain.Errorf(domain.CodeInvalid, op, "id: not a valid account id")
	}
	if !p.CanSee(id) {
		return domain.Errorf(domain.CodeNotFound, op, "account %s not found", id)
	}
	return nil
}

// CreateInput is what CreateAccount takes.
type CreateInput struct {
	Name        string
	DisplayName string
	Quota       Quota
	Group       string
	WithAPIKey  bool
}

// Created is what CreateAccount returns; Secret is set only with WithAPIKey.
type Created struct {
	Account Account
	Key     APIKey
	Secret  string
}

// Create validates, then writes the account, its created event and, when
// asked, its first API key in one transaction. The name's uniqueness is
// enforced by the store inside that transaction, never by a cache.
func (s *Service) Create(ctx context.Context, in CreateInput) (Created, error) {
	const op = "account.Create"
	if err := requireAdmin(ctx, op); err != nil {
		return Created{}, err
	}
	if err := ValidateName(op, in.Name); err != nil {
		return Created{}, err
	}
	if err := validateText(op, "display_name", in.DisplayName, MaxDisplayNameLen); err != nil {
		return Created{}, err
	}
	if err := ValidateQuota(op, in.Quota); err != nil {
		return Created{}, err
	}
	if err := ValidateGroup(op, in.Group); err != nil {
		return Created{}, err
	}
	now := s.clock.Now()
	a := Account{
		ID: domain.NewID(), Name: in.Name, DisplayName: in.DisplayName, Quota: in.Quota, Group: in.Group,
		State: StateProvisioning, Generation: 1, CreatedAt: now, UpdatedAt: now,
	}
	out := Created{Account: a}
	if in.WithAPIKey {
		out.Key, out.Secret = newAPIKey(a.ID, "created with the account", now)
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		if err := tx.InsertAccount(ctx, a); err != nil {
			return err
		}
		events := []domain.Event{accountEvent(EventCreated, a, now)}
		if in.WithAPIKey {
			if err := tx.InsertAPIKey(ctx, out.Key); err != nil {
				return err
			}
			events = append(events, keyEvent(EventAPIKeyCreated, out.Key, 1, now))
		}
		return tx.Append(ctx, events...)
	})
	if domain.Is(err, domain.CodeConflict) {
		return Created{}, domain.Errorf(domain.CodeConflict, op, "name %q is already taken", in.Name)
	}
	if err != nil {
		return Created{}, domain.Wrap(op, err)
	}
	return out, nil
}

// Get returns one account the caller may see.
func (s *Service) Get(ctx context.Context, id string) (Account, error) {
	const op = "account.Get"
	if err := requireAccount(ctx, op, id); err != nil {
		return Account{}, err
	}
	a, err := s.store.Account(ctx, id)
	if domain.Is(err, domain.CodeNotFound) {
		return Account{}, domain.Errorf(domain.CodeNotFound, op, "account %s not found", id)
	}
	return a, domain.Wrap(op, err)
}

// Page limits for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// ListInput is what List takes. PageSize 0 means DefaultPageSize.
type ListInput struct {
	PageSize  int
	PageToken string
	// IncludeDeleted lists DELETED accounts (tombstones) too; DELETING ones
	// are always listed, their deletion is still under way.
	IncludeDeleted bool
}

// List returns one page of the accounts the caller may see, in creation
// order, and the token of the next page ("" on the last one).
func (s *Service) List(ctx context.Context, in ListInput) ([]Account, string, error) {
	const op = "account.List"
	p, err := principal(ctx, op)
	if err != nil {
		return nil, "", err
	}
	pageSize := in.PageSize
	switch {
	case pageSize < 0 || pageSize > MaxPageSize:
		return nil, "", domain.Errorf(domain.CodeInvalid, op, "page_size: must be between 0 and %d", MaxPageSize)
	case pageSize == 0:
		pageSize = DefaultPageSize
	}
	after, err := decodePageToken(in.PageToken)
	if err != nil {
		return nil, "", domain.Errorf(domain.CodeInvalid, op, "page_token: not a token this server issued")
	}
	if !p.Admin { // an account key sees exactly its own account
		if after != "" {
			return nil, "", nil
		}
		a, err := s.store.Account(ctx, p.AccountID)
		if err != nil {
			return nil, "", domain.Wrap(op, err)
		}
		if a.State == StateDeleted && !in.IncludeDeleted {
			return nil, "", nil
		}
		return []Account{a}, "", nil
	}
	// One extra row tells whether a next page exists without a count query.
	// The store skips tombstones in its query, not here, so a page is never
	// short while more accounts remain.
	list, err := s.store.Accounts(ctx, after, pageSize+1, in.IncludeDeleted)
	if err != nil {
		return nil, "", domain.Wrap(op, err)
	}
	next := ""
	if len(list) > pageSize {
		list = list[:pageSize]
		next = base64.RawURLEncoding.EncodeToString([]byte(list[pageSize-1].ID))
	}
	return list, next, nil
}

func decodePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || !domain.ValidID(string(b)) {
		return "", domain.Errorf(domain.CodeInvalid, "", "bad page token")
	}
	return string(b), nil
}

// UpdateInput changes an account's mutable fields. ExpectedGeneration, when
// non-zero, makes the update conditional (optimistic concurrency).
type UpdateInput struct {
	ID                 string
	DisplayName        *string
	Quota              *Quota  // replaces the quota; &Quota{} removes it
	Group              *string // replaces the group; "" removes it
	ExpectedGeneration int64
}

// Update changes the account's spec, bumps its generation and records an
// updated event. A no-op update changes nothing and records nothing.
func (s *Service) Update(ctx context.Context, in UpdateInput) (Account, error) {
	const op = "account.Update"
	if err := requireAccount(ctx, op, in.ID); err != nil {
		return Account{}, err
	}
	if in.DisplayName != nil {
		if err := validateText(op, "display_name", *in.DisplayName, MaxDisplayNameLen); err != nil {
			return Account{}, err
		}
	}
	if in.Quota != nil {
		if err := ValidateQuota(op, *in.Quota); err != nil {
			return Account{}, err
		}
	}
	if in.Group != nil {
		if err := ValidateGroup(op, *in.Group); err != nil {
			return Account{}, err
		}
	}
	var out Account
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := s.current(ctx, tx, op, in.ID, in.ExpectedGeneration)
		if err != nil {
			return err
		}
		if a.State == StateDeleted {
			return domain.Errorf(domain.CodeNotFound, op, "account %s was deleted", in.ID)
		}
		next := a
		if in.DisplayName != nil {
			next.DisplayName = *in.DisplayName
		}
		if in.Quota != nil {
			next.Quota = *in.Quota
		}
		if in.Group != nil {
			next.Group = *in.Group
		}
		if next == a {
			out = a
			return nil
		}
		now := s.clock.Now()
		a = next
		a.Generation++
		a.UpdatedAt = now
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		out = a
		return tx.Append(ctx, accountEvent(EventUpdated, a, now))
	})
	return out, domain.Wrap(op, err)
}

// Delete marks the account DELETING (clusters then remove what they hold for
// it) and revokes its API keys in the same transaction.
func (s *Service) Delete(ctx context.Context, id string, expectedGeneration int64) (Account, error) {
	const op = "account.Delete"
	if err := requireAdmin(ctx, op); err != nil {
		return Account{}, err
	}
	if err := requireAccount(ctx, op, id); err != nil {
		return Account{}, err
	}
	var out Account
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := s.current(ctx, tx, op, id, expectedGeneration)
		if err != nil {
			return err
		}
		if a.State == StateDeleting || a.State == StateDeleted {
			out = a
			return nil
		}
		now := s.clock.Now()
		a.State = StateDeleting
		a.Generation++
		a.UpdatedAt = now
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		if err := tx.RevokeAPIKeys(ctx, a.ID, now); err != nil {
			return err
		}
		out = a
		return tx.Append(ctx, accountEvent(EventDeleted, a, now))
	})
	return out, domain.Wrap(op, err)
}

// Finalize turns a DELETING account at generation gen into DELETED and
// records account.finalized, in one transaction. It is the system's call,
// not a user's (no principal is checked): the provisioning finalizer makes
// it once every cluster reported the account's namespace gone. An account
// at another generation or state is left alone (done reports false), so a
// replayed or late call is harmless.
func (s *Service) Finalize(ctx context.Context, id string, gen int64) (done bool, err error) {
	const op = "account.Finalize"
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.Account(ctx, id)
		if err != nil {
			return err
		}
		if a.State != StateDeleting || a.Generation != gen {
			return nil
		}
		now := s.clock.Now()
		a.State = StateDeleted
		a.Generation++
		a.UpdatedAt = now
		if err := tx.UpdateAccount(ctx, a); err != nil {
			return err
		}
		done = true
		return tx.Append(ctx, accountEvent(EventFinalized, a, now))
	})
	return done, domain.Wrap(op, err)
}

// current reads the account in tx and checks the expected generation.
func (s *Service) current(ctx context.Context, tx Tx, op, id string, expected int64) (Account, error) {
	a, err := tx.Account(ctx, id)
	if domain.Is(err, domain.CodeNotFound) {
		return Account{}, domain.Errorf(domain.CodeNotFound, op, "account %s not found", id)
	}
	if err != nil {
		return Account{}, err
	}
	if expected != 0 && expected != a.Generation {
		return Account{}, domain.Errorf(domain.CodeAborted, op,
			"account %s is at generation %d, not %d", id, a.Generation, expected)
	}
	return a, nil
}

func accountEvent(typ string, a Account, now Time) domain.Event {
	return domain.Event{
		ID: domain.NewID(), Type: typ, AggregateID: a.ID, AggregateVersion: a.Generation,
		Time: now, Data: a,
	}
}
