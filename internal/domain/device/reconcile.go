package device

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// EventConfigChanged is recorded when a device's desired configuration or
// its sync state changes; EventDefaultsChanged when an account's defaults
// change. Their aggregate kind is "config", so they have subjects of their
// own (liveplane.events.config.<device or account id>.<verb>).
const (
	EventConfigChanged   = "config.changed"
	EventDefaultsChanged = "config.defaults_changed"
)

// ConfigChanged is the payload of both events (DeviceID empty for
// defaults).
type ConfigChanged struct {
	DeviceID         string
	AccountID        string
	Version          uint64
	Values           map[string]string
	State            SyncState
	EffectiveVersion uint64
}

var _ Downlinks = (*Service)(nil)

// Pending is the reconciliation step of an uplink (the Downlinks port):
// apply the device's report and ack to its twin, and answer with the
// UpdateConfigCommand while the delta is not empty. The common case (a
// device in sync reporting what it reported before) reads and writes
// nothing but two indexed reads; a change is decided again inside a write
// transaction on fresh state, so concurrent uplinks of one device and
// other replicas cannot lose updates.
func (s *Service) Pending(ctx context.Context, d Device, u Uplink) (Downlink, error) {
	const op = "device.Pending"
	r := ReportOf(u)
	now := s.clock.Now()
	t, def, err := s.loadTwin(ctx, d)
	if err != nil {
		return Downlink{}, domain.Wrap(op, err)
	}
	out := t.Observe(r, def, s.stuckAfter, now)
	if out.Changed {
		err = s.store.Update(ctx, func(tx Tx) error {
			t, def, err := twinInTx(ctx, tx, d)
			if err != nil {
				return err
			}
			out = t.Observe(r, def, s.stuckAfter, now)
			if !out.Changed {
				return nil
			}
			if err := tx.PutTwin(ctx, t); err != nil {
				return err
			}
			if out.Acked > 0 {
				if err := tx.AckConfigChanges(ctx, d.ID, out.Acked, now); err != nil {
					return err
				}
			}
			if out.Before != out.After {
				return tx.Append(ctx, configEvent(t, def, out.After, now))
			}
			return nil
		})
		if err != nil {
			return Downlink{}, domain.Wrap(op, err)
		}
	}
	for _, m := range out.Messages {
		s.ingest.live.Publish(d.ID, Line{DeviceID: d.ID, Timestamp: now, Type: "config", Message: m})
	}
	return Downlink{UpdateConfig: out.Command}, nil
}

// loadTwin reads a device's twin and its account's defaults (zero values
// when none were saved).
func (s *Service) loadTwin(ctx context.Context, d Device) (Twin, Defaults, error) {
	if t, def, err := s.store.TwinConfig(ctx, d.ID); !domain.Is(err, domain.CodeNotFound) {
		return t, def, err
	}
	t, err := s.store.Twin(ctx, d.ID)
	if domain.Is(err, domain.CodeNotFound) {
		t, err = Twin{DeviceID: d.ID, AccountID: d.AccountID}, nil
	}
	if err != nil {
		return Twin{}, Defaults{}, err
	}
	def, err := s.store.Defaults(ctx, d.AccountID)
	return t, def, err
}

// twinInTx reads d's twin (an empty one when none was saved) and its
// account's defaults inside a write transaction.
func twinInTx(ctx context.Context, tx Tx, d Device) (Twin, Defaults, error) {
	t, err := tx.Twin(ctx, d.ID)
	if domain.Is(err, domain.CodeNotFound) {
		t, err = Twin{DeviceID: d.ID, AccountID: d.AccountID}, nil
	}
	if err != nil {
		return Twin{}, Defaults{}, err
	}
	def, err := tx.Defaults(ctx, d.AccountID)
	return t, def, err
}

func configEvent(t Twin, def Defaults, st SyncState, now time.Time) domain.Event {
	return domain.Event{
		ID: domain.NewID(), Type: EventConfigChanged, AggregateID: t.DeviceID,
		AggregateVersion: int64(t.EffectiveVersion(def)), Time: now,
		Data: ConfigChanged{
			DeviceID: t.DeviceID, AccountID: t.AccountID, Version: t.Version, Values: t.Desired.Plain(),
			State: st, EffectiveVersion: t.EffectiveVersion(def),
		},
	}
}
