package device

import (
	"maps"
	"slices"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// Configuration reconciliation (flow C). Per device the control plane keeps
// a Twin: the operator's desired values (with a version), what the device
// reported, and the state of the command that carries the difference. The
// account's Defaults apply to every device; a device's own desired value
// overrides a default. Everything in this file is pure: the store loads and
// saves twins, the service decides with these functions.

// Entry is one configuration value and when it last changed.
type Entry struct {
	Value     string
	UpdatedAt time.Time
}

// Values is a configuration document: key → entry.
type Values map[string]Entry

// Plain returns the values without their times.
func (v Values) Plain() map[string]string {
	out := make(map[string]string, len(v))
	for k, e := range v {
		out[k] = e.Value
	}
	return out
}

// Twin is a device's configuration state.
type Twin struct {
	DeviceID  string
	AccountID string
	// Version counts changes of Desired; it never decreases.
	Version uint64
	Desired Values
	// Reported holds the latest report of every key the device ever
	// reported (uplinks merge into it; see MaxReportedKeys).
	Reported Values
	// Invalid names reported keys whose name or value broke the limits in
	// the latest report that carried configuration, with the reason.
	Invalid map[string]string
	// The newest uplink applied: older ones (reordered, replayed) change no
	// state. Saved only with another change (see Observe).
	Seen                 bool
	LastBoot, LastUplink uint32
	// AckedVersion is the highest effective version the device acknowledged;
	// Rejected its per-key refusals (rejected or unknown key) in that ack.
	AckedVersion uint64
	Rejected     map[string]string
	// SentVersion is the effective version last put in a reply; Unacked
	// counts the newer uplinks since, without its ack.
	SentVersion uint64
	Unacked     uint32
	// Drift counts the times the device acknowledged the current version
	// but still reported other values for keys it did not reject (it
	// changed them itself, applied only part of a split command, or
	// reported before applying): each makes a new effective version, so a
	// device that skips versions it already applied still gets the keys.
	Drift     uint64
	UpdatedAt time.Time
}

// Defaults are an account's configuration defaults.
type Defaults struct {
	AccountID string
	Version   uint64
	Values    Values
	UpdatedAt time.Time
}

// SyncState is what GetConfig shows for a device.
type SyncState string

const (
	SyncInSync   SyncState = "in_sync"
	SyncPending  SyncState = "pending"
	SyncRejected SyncState = "rejected"
	SyncStuck    SyncState = "stuck"
)

// DefaultStuckAfter is how many uplinks without an ack make a device stuck.
const DefaultStuckAfter = 5

// Limits of configuration documents (desired and defaults); uplinks have
// their own (MaxConfigKeys, MaxConfigKeyLen, MaxConfigValLen), and the
// document limits match them, so every desired value can be reported back.
const (
	MaxDocKeys       = MaxConfigKeys
	MaxPatchBytes    = 32 << 10
	MaxReportedKeys  = 2 * MaxConfigKeys
	maxInvalidMarks  = MaxConfigKeys
	downlinkKeyBytes = MaxDownlinkBytes - 160 // room for version, device key and PSK
)

// EffectiveVersion is what commands carry: the sum of monotonic counters
// (the device's desired version, the defaults version, the drift count)
// grows whenever any changes, so a device always sees a new version for a
// new effective configuration.
func (t Twin) EffectiveVersion(d Defaults) uint64 { return t.Version + d.Version + t.Drift }

// Effective is the account defaults overridden by the device's values.
func (t Twin) Effective(d Defaults) map[string]string {
	out := make(map[string]string, len(d.Values)+len(t.Desired))
	for k, e := range d.Values {
		out[k] = e.Value
	}
	for k, e := range t.Desired {
		out[k] = e.Value
	}
	return out
}

// Delta is the effective keys whose value differs from the reported one
// (or that were never validly reported).
func (t Twin) Delta(d Defaults) map[string]string {
	out := map[string]string{}
	for k, v := range t.Effective(d) {
		if r, ok := t.Reported[k]; !ok || r.Value != v {
			out[k] = v
		}
	}
	return out
}

// State is the sync state given the defaults and the stuck threshold.
func (t Twin) State(d Defaults, stuckAfter uint32) SyncState {
	delta := t.Delta(d)
	if len(delta) == 0 {
		return SyncInSync
	}
	eff := t.EffectiveVersion(d)
	if t.AckedVersion == eff {
		for k := range delta {
			if _, ok := t.Rejected[k]; ok {
				return SyncRejected
			}
		}
	}
	if t.SentVersion == eff && t.AckedVersion < eff && stuckAfter > 0 && t.Unacked >= stuckAfter {
		return SyncStuck
	}
	return SyncPending
}

// Seed is the twin of a device enrolled by r: its reported configuration
// becomes the desired one, except values equal to the account's defaults.
func Seed(deviceID, accountID string, r Report, d Defaults, now time.Time) (Twin, []ConfigChange) {
	t := Twin{DeviceID: deviceID, AccountID: accountID, Desired: Values{}, Reported: Values{}, UpdatedAt: now}
	t.applyReport(r, d, now)
	t.Seen, t.LastBoot, t.LastUplink = true, r.Boot, r.Uplink
	var changes []ConfigChange
	for _, k := range slices.Sorted(maps.Keys(r.Config)) {
		v := r.Config[k]
		if dv, ok := d.Values[k]; ok && dv.Value == v {
			continue
		}
		t.Desired[k] = Entry{Value: v, UpdatedAt: now}
		nv := v
		changes = append(changes, ConfigChange{Key: k, New: &nv})
	}
	if len(changes) > 0 {
		t.Version = 1
	}
	for i := range changes {
		changes[i].ID, changes[i].DeviceID, changes[i].AccountID = "", deviceID, accountID
		changes[i].Version, changes[i].Actor, changes[i].At = t.EffectiveVersion(d), ActorEnrolment, now
	}
	return t, changes
}

// Patch merges p into the desired values: with expected set, a different
// version is CodeAborted and nothing changes. A patch that changes nothing
// keeps the version. The changes carry the effective version they produce.
func (t *Twin) Patch(op string, p Patch, expected *uint64, d Defaults, actor string, now time.Time) ([]ConfigChange, error) {
	if expected != nil && *expected != t.Version {
		return nil, domain.Errorf(domain.CodeAborted, op, "expected version %d, but the desired configuration is at version %d", *expected, t.Version)
	}
	desired, changes, err := p.apply(op, t.Desired, now)
	if err != nil || len(changes) == 0 {
		return nil, err
	}
	t.Desired, t.Version, t.UpdatedAt = desired, t.Version+1, now
	for i := range changes {
		c := &changes[i]
		c.ID, c.DeviceID, c.AccountID, c.Version, c.Actor = domain.NewID(), t.DeviceID, t.AccountID, t.EffectiveVersion(d), actor
	}
	return changes, nil
}

// Patch is Twin.Patch for an account's defaults.
func (d *Defaults) Patch(op string, p Patch, expected *uint64, actor string, now time.Time) ([]ConfigChange, error) {
	if expected != nil && *expected != d.Version {
		return nil, domain.Errorf(domain.CodeAborted, op, "expected version %d, but the defaults are at version %d", *expected, d.Version)
	}
	values, changes, err := p.apply(op, d.Values, now)
	if err != nil || len(changes) == 0 {
		return nil, err
	}
	d.Values, d.Version, d.UpdatedAt = values, d.Version+1, now
	for i := range changes {
		c := &changes[i]
		c.ID, c.AccountID, c.Version, c.Actor = domain.NewID(), d.AccountID, d.Version, actor
	}
	return changes, nil
}
