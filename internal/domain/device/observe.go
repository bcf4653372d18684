package device

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The per-uplink half of reconciliation: what a report does to a twin and
// what the reply carries.

// Report is what one uplink tells about configuration.
type Report struct {
	Boot, Uplink uint32
	Config       map[string]string // valid entries only
	Invalid      map[string]string // key (sanitised) → why it was not kept
	Ack          ConfigAck
}

// ReportOf splits an uplink's configuration into what is kept and what is
// marked invalid (see Uplink.Validate, which leaves bad entries for this).
// When every entry is valid (the common case) Config is u.Config itself,
// not a copy: nothing writes to a report's Config.
func ReportOf(u Uplink) Report {
	r := Report{Boot: u.BootCount, Uplink: u.UplinkCount, Ack: u.Ack}
	valid := true
	for k, v := range u.Config {
		if entryProblem(k, v) != "" {
			valid = false
			break
		}
	}
	if valid && u.Config != nil {
		r.Config = u.Config
		return r
	}
	r.Config = map[string]string{}
	for k, v := range u.Config {
		if why := entryProblem(k, v); why != "" {
			if r.Invalid == nil {
				r.Invalid = map[string]string{}
			}
			r.Invalid[sanitiseKey(k)] = why
			continue
		}
		r.Config[k] = v
	}
	return r
}

// Outcome is what Observe decided for one uplink.
type Outcome struct {
	Command *UpdateConfigCommand
	// Changed: the twin must be saved. An uplink that changes nothing else
	// does not save its position either; that is safe because an older
	// uplink arriving later can only repeat what was already applied.
	Changed bool
	// Acked is a version newly acknowledged (0 = none): history entries up
	// to it are acknowledged.
	Acked    uint64
	Before   SyncState
	After    SyncState
	Messages []string // live-log lines of type "config"
}

// Observe applies an uplink's report and decides the reply. Reports older
// than the newest applied uplink (by boot, then uplink count) change
// nothing; every uplink gets the command while the delta is not empty.
func (t *Twin) Observe(r Report, d Defaults, stuckAfter uint32, now time.Time) Outcome {
	out := Outcome{Before: t.State(d, stuckAfter)}
	eff := t.EffectiveVersion(d)
	newer := !t.Seen || r.Boot > t.LastBoot || r.Boot == t.LastBoot && r.Uplink > t.LastUplink
	if newer {
		out.Changed = t.applyReport(r, d, now)
		if t.applyAck(r.Ack, eff, &out) {
			out.Changed = true
		}
		t.Seen, t.LastBoot, t.LastUplink = true, r.Boot, r.Uplink
		if t.drifted(d, eff) {
			t.Drift++
			eff = t.EffectiveVersion(d)
			out.Changed = true
		}
	}
	if delta := t.Delta(d); len(delta) > 0 {
		switch {
		case t.SentVersion != eff:
			t.SentVersion, t.Unacked = eff, 0
			out.Changed = true
		case newer && t.AckedVersion < eff:
			t.Unacked++
			out.Changed = true
			if t.Unacked == stuckAfter {
				out.Messages = append(out.Messages, fmt.Sprintf("Config v%d stuck: %d uplinks without an ack", eff, t.Unacked))
			}
		}
		out.Command = &UpdateConfigCommand{Version: eff, Keys: fitDownlink(delta)}
		out.Messages = append(out.Messages, fmt.Sprintf("Sent config v%d: %s", eff, strings.Join(slices.Sorted(maps.Keys(out.Command.Keys)), ", ")))
	}
	if out.Changed {
		t.UpdatedAt = now
	}
	out.After = t.State(d, stuckAfter)
	return out
}

// drifted: the device acknowledged the version last sent, yet a key it did
// not reject still differs.
func (t *Twin) drifted(d Defaults, eff uint64) bool {
	if t.AckedVersion != eff || t.SentVersion != eff {
		return false
	}
	for k := range t.Delta(d) {
		if _, rejected := t.Rejected[k]; !rejected {
			return true
		}
	}
	return false
}

func (t *Twin) applyReport(r Report, d Defaults, now time.Time) bool {
	changed := false
	if t.Reported == nil {
		t.Reported = Values{}
	}
	for k, v := range r.Config {
		if e, ok := t.Reported[k]; !ok || e.Value != v {
			t.Reported[k] = Entry{Value: v, UpdatedAt: now}
			changed = true
		}
	}
	if len(r.Config) > 0 || len(r.Invalid) > 0 {
		// The marks describe the latest report with configuration.
		invalid := map[string]string{}
		for k, why := range r.Invalid {
			if len(invalid) < maxInvalidMarks {
				invalid[k] = why
			}
			if _, ok := t.Reported[k]; ok {
				delete(t.Reported, k) // what the device holds is unknown now
				changed = true
			}
		}
		if !maps.Equal(invalid, t.Invalid) && !(len(invalid) == 0 && len(t.Invalid) == 0) {
			t.Invalid = invalid
			changed = true
		}
	}
	if len(t.Reported) > MaxReportedKeys {
		t.evictReported(d)
	}
	return changed
}

// evictReported keeps Reported bounded: the oldest keys nobody desires go.
func (t *Twin) evictReported(d Defaults) {
	eff := t.Effective(d)
	var spare []string
	for k := range t.Reported {
		if _, ok := eff[k]; !ok {
			spare = append(spare, k)
		}
	}
	slices.SortFunc(spare, func(a, b string) int {
		if c := t.Reported[a].UpdatedAt.Compare(t.Reported[b].UpdatedAt); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, k := range spare {
		if len(t.Reported) <= MaxReportedKeys {
			return
		}
		delete(t.Reported, k)
	}
}

func (t *Twin) applyAck(a ConfigAck, eff uint64, out *Outcome) bool {
	v := a.AppliedVersion
	if v == 0 || v > eff || v < t.AckedVersion {
		return false // nothing, a version never sent, or an old ack
	}
	rejected := map[string]string{}
	for _, r := range a.Results {
		switch r.Status {
		case KeyRejected:
			rejected[r.Key] = r.Reason
		case KeyUnknown:
			rejected[r.Key] = "unknown key"
		}
	}
	if v == t.AckedVersion && maps.Equal(rejected, t.Rejected) {
		return false
	}
	if v > t.AckedVersion {
		out.Acked = v
	}
	t.AckedVersion, t.Rejected = v, rejected
	if len(rejected) == 0 {
		t.Rejected = nil
		out.Messages = append(out.Messages, fmt.Sprintf("Device applied config v%d", v))
		return true
	}
	parts := make([]string, 0, len(rejected))
	for _, k := range slices.Sorted(maps.Keys(rejected)) {
		parts = append(parts, fmt.Sprintf("%s (%s)", k, rejected[k]))
	}
	out.Messages = append(out.Messages, fmt.Sprintf("Device rejected config v%d: %s", v, strings.Join(parts, ", ")))
	return true
}

// fitDownlink keeps the command within one datagram: keys in order while
// they fit; the rest go in later replies (same version).
func fitDownlink(delta map[string]string) map[string]string {
	out := map[string]string{}
	size := 0
	for _, k := range slices.Sorted(maps.Keys(delta)) {
		n := len(k) + len(delta[k]) + 8 // map entry framing, generously
		if size+n > downlinkKeyBytes && len(out) > 0 {
			break
		}
		out[k] = delta[k]
		size += n
	}
	return out
}
