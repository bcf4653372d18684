package daemon

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

func labelsFor(a account.Account) map[string]string {
	return map[string]string{
		provisioning.LabelManagedBy:  provisioning.ManagedByValue,
		provisioning.LabelAccountID:  a.ID,
		provisioning.LabelGeneration: genLabel(a.Generation),
	}
}

func (d *Daemon) stripe(id string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return &d.stripes[h.Sum32()%uint32(len(d.stripes))]
}

func cond(t string, ok bool, reason, msg string, gen int64) provisioning.Condition {
	return provisioning.Condition{Type: t, Status: ok, Reason: reason, Message: msg, ObservedGeneration: gen}
}

// reconcile brings one account's namespace to its spec and records the
// status to report. Drift made outside liveplane is reported (Degraded)
// before it is repaired, so the control plane sees it: by a resync, and
// after a restart by the account's first reconcile (see reportDrift).
// The caller holds a's stripe, and a is the newest spec (see newest).
func (d *Daemon) reconcile(ctx context.Context, a account.Account, resync bool) error {
	name := provisioning.NamespaceFor(a.Name)
	base := provisioning.Status{Cluster: d.o.Cluster, AccountID: a.ID, Namespace: name, ObservedGeneration: a.Generation}
	ns, found, err := d.kube.Namespace(ctx, name)
	if err != nil {
		return err
	}
	if a.State == account.StateDeleting || a.State == account.StateDeleted {
		return d.reconcileDelete(ctx, a, base, ns, found)
	}
	if found && ns.OwnedByOther(a.ID) {
		// Somebody else's namespace (another account's, or pre-existing):
		// never taken over.
		st := base
		st.Conditions = []provisioning.Condition{
			cond(provisioning.CondApplied, false, provisioning.ReasonOwnedByOther, "namespace "+name+" exists and is not owned by this account", a.Generation),
			cond(provisioning.CondReady, false, provisioning.ReasonOwnedByOther, "", a.Generation),
			cond(provisioning.CondDegraded, true, provisioning.ReasonOwnedByOther, "namespace "+name+" exists and is not owned by this account; it is left alone", a.Generation),
		}
		d.setStatus(st, false)
		return nil
	}
	want := labelsFor(a)
	drift := ""
	switch {
	case !found:
		drift = provisioning.ReasonMissing
	case ns.Terminating:
		drift = provisioning.ReasonMissing
	default:
		for k, v := range want {
			if ns.Labels[k] != v {
				drift = provisioning.ReasonDrifted
			}
		}
	}
	if drift == "" {
		d.noteApplied(a.ID, a.Generation)
	}
	if drift == "" && d.readyAt(a.ID, a.Generation) {
		// The namespace is fine and Ready was reported: keep the quota
		// and binding in place (an apply that changes nothing is a no-op
		// on the server).
		return d.reconcileExtras(ctx, a, base, name, want)
	}
	if drift != "" && d.reportDrift(a, ns, found, resync) {
		st := base
		st.Conditions = []provisioning.Condition{
			cond(provisioning.CondApplied, false, drift, "namespace "+name+" changed outside liveplane; restoring", a.Generation),
			cond(provisioning.CondReady, false, drift, "", a.Generation),
			cond(provisioning.CondDegraded, true, drift, "namespace "+name+" changed outside liveplane; restoring", a.Generation),
		}
		d.setStatus(st, true) // published before the repair
	}
	if ns.Terminating {
		return fmt.Errorf("namespace %s is terminating; will recreate once gone", name)
	}
	if drift != "" {
		if _, err := d.kube.ApplyNamespace(ctx, name, want); err != nil {
			st := base
			st.Conditions = []provisioning.Condition{
				cond(provisioning.CondApplied, false, provisioning.ReasonApplyFailed, err.Error(), a.Generation),
				cond(provisioning.CondReady, false, provisioning.ReasonApplyFailed, "", a.Generation),
				cond(provisioning.CondDegraded, true, provisioning.ReasonApplyFailed, err.Error(), a.Generation),
			}
			d.setStatus(st, false)
			return err
		}
		d.noteApplied(a.ID, a.Generation)
	}
	if err := d.reconcileExtras(ctx, a, base, name, want); err != nil {
		return err
	}
	d.markReady(a, base)
	return nil
}

// markReady records Ready at a's generation; the quota and binding were
// checked for this generation too.
func (d *Daemon) markReady(a account.Account, base provisioning.Status) {
	st := base
	st.Conditions = []provisioning.Condition{
		cond(provisioning.CondApplied, true, provisioning.ReasonApplied, "", a.Generation),
		cond(provisioning.CondReady, true, provisioning.ReasonActive, "", a.Generation),
		cond(provisioning.CondDegraded, false, "", "", a.Generation),
	}
	d.mu.Lock()
	d.clean[a.ID] = a.Generation
	d.mu.Unlock()
	d.noteApplied(a.ID, a.Generation)
	d.setStatus(st, false)
}

// noteApplied records that a's namespace carries (applied or found) the
// labels of generation gen; reportDrift tells a spec change still to
// apply from drift with it.
func (d *Daemon) noteApplied(id string, gen int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.noteAppliedLocked(id, gen)
}

// noteAppliedLocked is noteApplied with d.mu held.
func (d *Daemon) noteAppliedLocked(id string, gen int64) {
	if gen > d.applied[id] {
		d.applied[id] = gen
	}
}

// markDeleted records that a's namespace is gone from the cluster.
func (d *Daemon) markDeleted(a account.Account, base provisioning.Status) {
	st := base
	st.Deleted = true
	st.Conditions = []provisioning.Condition{cond(provisioning.CondDeleting, false, "NamespaceDeleted", "", a.Generation)}
	if a.State == account.StateDeleted {
		d.mu.Lock()
		d.gone[a.ID] = true
		d.mu.Unlock()
	}
	d.setStatus(st, false)
}

// reconcileExtras applies the ResourceQuota and the group's RoleBinding
// when the account sets them, and deletes ours when it does not (checked
// once per generation: nothing re-creates them but this daemon). A failure
// is reported Degraded with the reason and returned, so it is retried.
func (d *Daemon) reconcileExtras(ctx context.Context, a account.Account, base provisioning.Status, ns string, labels map[string]string) error {
	d.mu.Lock()
	checked := d.clean[a.ID] == a.Generation
	d.mu.Unlock()
	fail := func(reason string, err error) error {
		st := base
		st.Conditions = []provisioning.Condition{
			cond(provisioning.CondApplied, false, reason, err.Error(), a.Generation),
			cond(provisioning.CondReady, false, reason, "", a.Generation),
			cond(provisioning.CondDegraded, true, reason, err.Error(), a.Generation),
		}
		d.setStatus(st, false)
		return err
	}
	var err error
	switch {
	case !a.Quota.IsZero():
		err = d.kube.ApplyQuota(ctx, ns, labels, a.Quota)
	case !checked:
		err = d.kube.DeleteQuota(ctx, ns)
	}
	if err != nil {
		return fail(provisioning.ReasonQuotaFailed, err)
	}
	switch {
	case a.Group != "":
		err = d.kube.ApplyRoleBinding(ctx, ns, labels, a.Group, d.o.GroupRole)
	case !checked:
		err = d.kube.DeleteRoleBinding(ctx, ns)
	}
	if err != nil {
		return fail(provisioning.ReasonBindingFailed, err)
	}
	d.mu.Lock()
	d.clean[a.ID] = a.Generation
	d.mu.Unlock()
	return nil
}

func (d *Daemon) reconcileDelete(ctx context.Context, a account.Account, base provisioning.Status, ns provisioning.Namespace, found bool) error {
	st := base
	switch {
	case !found || !ns.OwnedBy(a.ID):
		d.markDeleted(a, base)
		return nil
	case ns.Terminating:
		st.Conditions = []provisioning.Condition{cond(provisioning.CondDeleting, true, provisioning.ReasonDeleteInProgress, "", a.Generation)}
	default:
		if err := d.kube.DeleteNamespace(ctx, ns.Name); err != nil {
			return err
		}
		st.Conditions = []provisioning.Condition{cond(provisioning.CondDeleting, true, provisioning.ReasonDeleteInProgress, "", a.Generation)}
	}
	d.setStatus(st, false)
	return nil
}
