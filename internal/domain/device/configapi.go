package device

import (
	"context"
	"encoding/base64"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// ConfigView is what GetConfig shows of one device.
type ConfigView struct {
	Twin             Twin
	Defaults         Defaults
	Effective        map[string]string
	Delta            map[string]string
	EffectiveVersion uint64
	State            SyncState
	StuckAfter       uint32
}

func (s *Service) view(t Twin, def Defaults) ConfigView {
	if t.Desired == nil {
		t.Desired = Values{}
	}
	if t.Reported == nil {
		t.Reported = Values{}
	}
	if def.Values == nil {
		def.Values = Values{}
	}
	return ConfigView{
		Twin: t, Defaults: def, Effective: t.Effective(def), Delta: t.Delta(def),
		EffectiveVersion: t.EffectiveVersion(def), State: t.State(def, s.stuckAfter), StuckAfter: s.stuckAfter,
	}
}

// Config returns a device's configuration state.
func (s *Service) Config(ctx context.Context, deviceID string) (ConfigView, error) {
	const op = "device.Config"
	d, err := s.visible(ctx, op, deviceID)
	if err != nil {
		return ConfigView{}, err
	}
	t, def, err := s.loadTwin(ctx, d)
	if err != nil {
		return ConfigView{}, domain.Wrap(op, err)
	}
	return s.view(t, def), nil
}

func actor(p account.Principal) string {
	if p.Admin {
		return "admin"
	}
	return "apikey:" + p.KeyID
}

// PatchConfig merges a JSON merge patch into a device's desired
// configuration. With expected set, a different current version is
// CodeAborted and nothing changes. A patch that changes nothing keeps the
// version and records nothing. The next uplink of the device gets the
// command (nothing is cached between the two).
func (s *Service) PatchConfig(ctx context.Context, deviceID string, patch []byte, expected *uint64) (ConfigView, error) {
	const op = "device.PatchConfig"
	p, err := principal(ctx, op)
	if err != nil {
		return ConfigView{}, err
	}
	d, err := s.visible(ctx, op, deviceID)
	if err != nil {
		return ConfigView{}, err
	}
	mp, err := ParseMergePatch(op, patch)
	if err != nil {
		return ConfigView{}, err
	}
	var v ConfigView
	err = s.store.Update(ctx, func(tx Tx) error {
		t, def, err := twinInTx(ctx, tx, d)
		if err != nil {
			return err
		}
		now := s.clock.Now()
		changes, err := t.Patch(op, mp, expected, def, actor(p), now)
		if err != nil {
			return err
		}
		if len(changes) > 0 {
			if err := tx.PutTwin(ctx, t); err != nil {
				return err
			}
			if err := tx.AppendConfigChanges(ctx, changes...); err != nil {
				return err
			}
			if err := tx.Append(ctx, configEvent(t, def, t.State(def, s.stuckAfter), now)); err != nil {
				return err
			}
		}
		v = s.view(t, def)
		return nil
	})
	if err != nil {
		return ConfigView{}, domain.Wrap(op, err)
	}
	return v, nil
}

// liveAccount checks, inside a transaction, that an account exists and is
// not being deleted.
func (s *Service) liveAccount(ctx context.Context, tx Tx, op, accountID string) error {
	a, err := tx.Account(ctx, accountID)
	if domain.Is(err, domain.CodeNotFound) {
		return domain.Errorf(domain.CodeNotFound, op, "account %s not found", accountID)
	}
	if err != nil {
		return err
	}
	if a.State == account.StateDeleting {
		return domain.Errorf(domain.CodeInvalid, op, "account %s is being deleted", accountID)
	}
	return nil
}

func (s *Service) visibleAccount(ctx context.Context, op, accountID string) (account.Principal, string, error) {
	p, err := principal(ctx, op)
	if err != nil {
		return p, "", err
	}
	if accountID == "" && !p.Admin {
		accountID = p.AccountID
	}
	if !domain.ValidID(accountID) {
		return p, "", domain.Errorf(domain.CodeInvalid, op, "account_id: required (a valid account id)")
	}
	if !p.CanSee(accountID) {
		return p, "", domain.Errorf(domain.CodeNotFound, op, "account %s not found", accountID)
	}
	return p, accountID, nil
}

// ConfigDefaults returns an account's defaults.
func (s *Service) ConfigDefaults(ctx context.Context, accountID string) (Defaults, error) {
	const op = "device.ConfigDefaults"
	_, accountID, err := s.visibleAccount(ctx, op, accountID)
	if err != nil {
		return Defaults{}, err
	}
	def, err := s.store.Defaults(ctx, accountID)
	if def.Values == nil {
		def.Values = Values{}
	}
	def.AccountID = accountID
	return def, domain.Wrap(op, err)
}

// PatchConfigDefaults is PatchConfig for an account's defaults. Devices see
// the change in their effective configuration (and a new effective
// version) at their next uplink.
func (s *Service) PatchConfigDefaults(ctx context.Context, accountID string, patch []byte, expected *uint64) (Defaults, error) {
	const op = "device.PatchConfigDefaults"
	p, accountID, err := s.visibleAccount(ctx, op, accountID)
	if err != nil {
		return Defaults{}, err
	}
	mp, err := ParseMergePatch(op, patch)
	if err != nil {
		return Defaults{}, err
	}
	var out Defaults
	err = s.store.Update(ctx, func(tx Tx) error {
		if err := s.liveAccount(ctx, tx, op, accountID); err != nil {
			return err
		}
		def, err := tx.LockDefaults(ctx, accountID)
		if err != nil {
			return err
		}
		def.AccountID = accountID
		now := s.clock.Now()
		out = def
		changes, err := def.Patch(op, mp, expected, actor(p), now)
		if err != nil || len(changes) == 0 {
			return err
		}
		if err := tx.PutDefaults(ctx, def); err != nil {
			return err
		}
		if err := tx.AppendConfigChanges(ctx, changes...); err != nil {
			return err
		}
		out = def
		return tx.Append(ctx, domain.Event{
			ID: domain.NewID(), Type: EventDefaultsChanged, AggregateID: accountID,
			AggregateVersion: int64(def.Version), Time: now,
			Data: ConfigChanged{AccountID: accountID, Version: def.Version, Values: def.Values.Plain()},
		})
	})
	if out.Values == nil {
		out.Values = Values{}
	}
	return out, domain.Wrap(op, err)
}

// ConfigHistory pages the audit history of a device (deviceID set) or of
// an account's defaults, newest first.
func (s *Service) ConfigHistory(ctx context.Context, deviceID, accountID string, pageSize int, pageToken string) ([]ConfigChange, string, error) {
	const op = "device.ConfigHistory"
	q := HistoryQuery{}
	if deviceID != "" {
		if _, err := s.visible(ctx, op, deviceID); err != nil {
			return nil, "", err
		}
		q.DeviceID = deviceID
	} else {
		_, acc, err := s.visibleAccount(ctx, op, accountID)
		if err != nil {
			return nil, "", err
		}
		q.AccountID = acc
	}
	if pageSize < 0 || pageSize > MaxPageSize {
		return nil, "", domain.Errorf(domain.CodeInvalid, op, "page_size: must be between 0 and %d", MaxPageSize)
	}
	if pageSize == 0 {
		pageSize = DefaultPageSize
	}
	if pageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(pageToken)
		if err != nil || !domain.ValidID(string(b)) {
			return nil, "", domain.Errorf(domain.CodeInvalid, op, "page_token: not a token this server issued")
		}
		q.Before = string(b)
	}
	q.Limit = pageSize + 1
	list, err := s.store.ConfigHistory(ctx, q)
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
