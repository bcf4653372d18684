package device

import (
	"context"
	"encoding/base64"
	"log/slog"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// Service holds the device use cases: management (this file), telemetry
// queries (telemetry.go) and uplink ingestion (ingest.go). Management calls
// take the caller's principal from ctx (account.WithPrincipal): the admin
// token may do everything, an account key acts on its account's devices.
type Service struct {
	store      Store
	clock      domain.Clock
	psks       *psks
	ingest     *ingester
	downlinks  Downlinks
	stuckAfter uint32
}

// Options wire the ingestion side; zero values are fine for management only.
type Options struct {
	Writer    Writer
	LiveLog   LiveLog
	Downlinks Downlinks // nil = configuration reconciliation (Service.Pending)
	Log       *slog.Logger
	Metrics   Metrics
	// StuckAfter is how many uplinks without an ack make a device's config
	// sync state "stuck"; 0 = DefaultStuckAfter.
	StuckAfter uint32
}

func NewService(store Store, clock domain.Clock, o Options) *Service {
	s := &Service{store: store, clock: clock, psks: &psks{store: store}, downlinks: o.Downlinks, stuckAfter: o.StuckAfter}
	if s.downlinks == nil {
		s.downlinks = s
	}
	if s.stuckAfter == 0 {
		s.stuckAfter = DefaultStuckAfter
	}
	s.ingest = newIngester(s, o)
	return s
}

func principal(ctx context.Context, op string) (account.Principal, error) {
	p, ok := account.PrincipalFrom(ctx)
	if !ok {
		return account.Principal{}, domain.Errorf(domain.CodeUnauthenticated, op, "missing or invalid token")
	}
	return p, nil
}

// visible loads a device the caller may see. Others' devices answer
// not_found, so ids cannot be probed with another account's key.
func (s *Service) visible(ctx context.Context, op, id string) (Device, error) {
	p, err := principal(ctx, op)
	if err != nil {
		return Device{}, err
	}
	if !domain.ValidID(id) {
		return Device{}, domain.Errorf(domain.CodeInvalid, op, "id: not a valid device id")
	}
	d, err := s.store.Device(ctx, id)
	if domain.Is(err, domain.CodeNotFound) || err == nil && !p.CanSee(d.AccountID) {
		return Device{}, domain.Errorf(domain.CodeNotFound, op, "device %s not found", id)
	}
	return d, domain.Wrap(op, err)
}

// Created is what Create returns: Key and PSK are shown this once.
type Created struct {
	Device Device
	Key    string
	PSK    string
}

// Create registers a device in an account the caller may see.
func (s *Service) Create(ctx context.Context, accountID, name string) (Created, error) {
	const op = "device.Create"
	p, err := principal(ctx, op)
	if err != nil {
		return Created{}, err
	}
	if !domain.ValidID(accountID) {
		return Created{}, domain.Errorf(domain.CodeInvalid, op, "account_id: not a valid account id")
	}
	if !p.CanSee(accountID) {
		return Created{}, domain.Errorf(domain.CodeNotFound, op, "account %s not found", accountID)
	}
	if err := validateName(op, name); err != nil {
		return Created{}, err
	}
	now := s.clock.Now()
	key := newKey()
	d := Device{
		ID: domain.NewID(), AccountID: accountID, Name: name, KeyHash: HashKey(key), KeyGeneration: 1,
		Generation: 1, CreatedAt: now, UpdatedAt: now,
	}
	psk, err := s.psks.derive(ctx, d.ID, d.KeyGeneration)
	if err != nil {
		return Created{}, err
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.Account(ctx, accountID)
		if domain.Is(err, domain.CodeNotFound) {
			return domain.Errorf(domain.CodeNotFound, op, "account %s not found", accountID)
		}
		if err != nil {
			return err
		}
		if a.State == account.StateDeleting || a.State == account.StateDeleted {
			return domain.Errorf(domain.CodeInvalid, op, "account %s is being deleted", accountID)
		}
		if err := tx.InsertDevice(ctx, d); err != nil {
			return err
		}
		// The twin row exists from the start, so the first PatchConfig
		// has a row to lock.
		if err := tx.PutTwin(ctx, Twin{DeviceID: d.ID, AccountID: d.AccountID, UpdatedAt: now}); err != nil {
			return err
		}
		return tx.Append(ctx, deviceEvent(EventCreated, d, now))
	})
	if domain.Is(err, domain.CodeConflict) {
		return Created{}, domain.Errorf(domain.CodeConflict, op, "the account already has a device named %q", name)
	}
	if err != nil {
		return Created{}, domain.Wrap(op, err)
	}
	d.KeyHash = ""
	return Created{Device: d, Key: key, PSK: psk}, nil
}

// Get returns a device the caller may see.
func (s *Service) Get(ctx context.Context, id string) (Device, error) {
	d, err := s.visible(ctx, "device.Get", id)
	d.KeyHash = ""
	return d, err
}

// Page limits for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// List pages an account's devices in creation order. An account key may
// leave accountID empty (its own account).
func (s *Service) List(ctx context.Context, accountID string, pageSize int, pageToken string) ([]Device, string, error) {
	const op = "device.List"
	p, err := principal(ctx, op)
	if err != nil {
		return nil, "", err
	}
	if accountID == "" && !p.Admin {
		accountID = p.AccountID
	}
	if !domain.ValidID(accountID) {
		return nil, "", domain.Errorf(domain.CodeInvalid, op, "account_id: required (a valid account id)")
	}
	if !p.CanSee(accountID) {
		return nil, "", domain.Errorf(domain.CodeNotFound, op, "account %s not found", accountID)
	}
	if pageSize < 0 || pageSize > MaxPageSize {
		return nil, "", domain.Errorf(domain.CodeInvalid, op, "page_size: must be between 0 and %d", MaxPageSize)
	}
	if pageSize == 0 {
		pageSize = DefaultPageSize
	}
	after := ""
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || !domain.ValidID(string(b)) {
			return nil, "", domain.Errorf(domain.CodeInvalid, op, "page_token: not a token this server issued")
		}
		after = string(b)
	}
	list, err := s.store.Devices(ctx, accountID, after, pageSize+1)
	if err != nil {
		return nil, "", domain.Wrap(op, err)
	}
	next := ""
	if len(list) > pageSize {
		list = list[:pageSize]
		next = base64.RawURLEncoding.EncodeToString([]byte(list[pageSize-1].ID))
	}
	for i := range list {
		list[i].KeyHash = ""
	}
	return list, next, nil
}

// Disable stops the device's uplinks (4.01 from then on); idempotent.
func (s *Service) Disable(ctx context.Context, id string) (Device, error) {
	const op = "device.Disable"
	if _, err := s.visible(ctx, op, id); err != nil {
		return Device{}, err
	}
	var out Device
	err := s.store.Update(ctx, func(tx Tx) error {
		d, err := tx.Device(ctx, id)
		if err != nil {
			return err
		}
		out = d
		if d.Disabled {
			return nil
		}
		now := s.clock.Now()
		d.Disabled, d.Generation, d.UpdatedAt = true, d.Generation+1, now
		if err := tx.UpdateDevice(ctx, d); err != nil {
			return err
		}
		out = d
		return tx.Append(ctx, deviceEvent(EventDisabled, d, now))
	})
	if err != nil {
		return Device{}, domain.Wrap(op, err)
	}
	s.ingest.forget(id)
	out.KeyHash = ""
	return out, nil
}

// Delete removes the device and its telemetry.
func (s *Service) Delete(ctx context.Context, id string) error {
	const op = "device.Delete"
	if _, err := s.visible(ctx, op, id); err != nil {
		return err
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		d, err := tx.Device(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteDevice(ctx, id); err != nil {
			return err
		}
		d.Generation++
		return tx.Append(ctx, deviceEvent(EventDeleted, d, s.clock.Now()))
	})
	if domain.Is(err, domain.CodeNotFound) {
		return domain.Errorf(domain.CodeNotFound, op, "device %s not found", id)
	}
	s.ingest.forget(id)
	return domain.Wrap(op, err)
}
