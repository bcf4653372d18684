package daemon

import (
	"strconv"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// SeedStatus records a status report this cluster published before this
// process started (start-up replay of what the control plane holds), so
// the first reconcile of the account can tell drift made while the daemon
// was down from an account it never provisioned. Reports of other clusters
// are ignored; of two reports, the newer report time wins, as in the read
// model (microseconds).
func (d *Daemon) SeedStatus(s provisioning.Status) {
	if s.Cluster != d.o.Cluster {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.recorded[s.AccountID]; !ok || s.Time.UnixMicro() > cur.Time.UnixMicro() {
		d.recorded[s.AccountID] = s
	}
}

// reportDrift decides whether drift found in a's namespace is reported
// (Degraded, before the repair) rather than silently repaired: whether
// the namespace had been provisioned and something outside liveplane
// changed it, as opposed to an account not provisioned yet or a spec
// change not applied yet. ns and found are the namespace as just read;
// found implies it is not somebody else's (checked before).
//
// Relabelled means: the ownership labels are not ours, or the generation
// label is one the account never had (not a number, newer than the
// account) or older than the newest generation this cluster is known to
// have applied (noteApplied, or the report below). An older generation
// than the account's, at or after that one, is a spec change still to
// apply (its event not handled yet, or failing), not drift.
//
// Once this process recorded a status for a, a resync reports a missing,
// terminating or relabelled namespace; an event reports nothing. Before
// that (the first reconcile after a start, from the resync or an event,
// whichever comes first) the evidence is the control plane's last report
// from this cluster (SeedStatus) and the namespace itself:
//   - missing: drift only when the report shows the namespace provisioned
//     (a brand-new account's missing namespace is not);
//   - terminating: ours, being deleted by somebody else;
//   - relabelled, with the generation the report shows applied.
//
// Without a report (reports older than the events stream's retention)
// a relabelled namespace is still reported; a deleted one is repaired
// silently, as before.
func (d *Daemon) reportDrift(a account.Account, ns provisioning.Namespace, found, resync bool) bool {
	d.mu.Lock()
	_, seen := d.status[a.ID]
	rec, ok := d.recorded[a.ID]
	applied := d.applied[a.ID]
	d.mu.Unlock()
	provisioned := false
	if ok {
		var g int64
		g, provisioned = rec.Provisioned()
		applied = max(applied, g)
	}
	switch {
	case seen:
		return resync && (!found || ns.Terminating || relabelled(a, ns, applied))
	case !found:
		return provisioned
	case ns.Terminating:
		return true
	}
	return relabelled(a, ns, applied)
}

// relabelled reports whether ns, found and not terminating, carries labels
// liveplane never gave it for a (see reportDrift).
func relabelled(a account.Account, ns provisioning.Namespace, applied int64) bool {
	if ns.Labels[provisioning.LabelManagedBy] != provisioning.ManagedByValue ||
		ns.Labels[provisioning.LabelAccountID] != a.ID {
		return true
	}
	g, err := strconv.ParseInt(ns.Labels[provisioning.LabelGeneration], 10, 64)
	return err != nil || g < 1 || g > a.Generation || g < applied
}
