// Package provisioning is the multi-cluster side of accounts: the clusters
// whose daemons registered, what each reports per account, and how the
// account's overall state is derived from those reports.
package provisioning

import (
	"sort"
	"time"

	"github.com/liveplane/liveplane/internal/domain/account"
)

// Event types. Cluster events have the cluster name as aggregate id; status
// events the account id, so they share the account's subject order.
const (
	EventClusterRegistered = "cluster.registered"
	EventClusterHeartbeat  = "cluster.heartbeat"
	EventStatus            = "provisioning.status"
)

// Condition types a daemon reports.
const (
	CondApplied  = "Applied"
	CondReady    = "Ready"
	CondDegraded = "Degraded"
	CondDeleting = "Deleting"
)

// Reasons, a stable vocabulary for Degraded and friends.
const (
	ReasonApplied          = "NamespaceApplied"
	ReasonActive           = "NamespaceActive"
	ReasonOwnedByOther     = "NamespaceOwnedByOther"
	ReasonMissing          = "NamespaceMissing"
	ReasonDrifted          = "NamespaceDrifted"
	ReasonApplyFailed      = "ApplyFailed"
	ReasonDeleteInProgress = "NamespaceTerminating"
	ReasonQuotaFailed      = "ResourceQuotaFailed"
	ReasonBindingFailed    = "RoleBindingFailed"
)

// NamespacePrefix makes an account's namespace: "lp-" + account name.
const NamespacePrefix = "lp-"

// NamespaceFor is the namespace the daemons manage for an account.
func NamespaceFor(accountName string) string { return NamespacePrefix + accountName }

// Ownership labels on every object the daemons apply.
const (
	LabelManagedBy  = "app.kubernetes.io/managed-by"
	ManagedByValue  = "liveplane"
	LabelAccountID  = "liveplane.io/account-id"
	LabelGeneration = "liveplane.io/generation"
	FieldManager    = "liveplane"
)

// Condition is one Kubernetes-style condition.
type Condition struct {
	Type               string
	Status             bool
	Reason             string
	Message            string
	ObservedGeneration int64
}

// Status is one cluster's report for one account.
type Status struct {
	Cluster            string
	AccountID          string
	Namespace          string
	ObservedGeneration int64
	Conditions         []Condition
	Deleted            bool
	Time               time.Time
}

// Cond returns the condition of type t, if reported.
func (s Status) Cond(t string) (Condition, bool) {
	for _, c := range s.Conditions {
		if c.Type == t {
			return c, true
		}
	}
	return Condition{}, false
}

// Provisioned reports whether s shows the account's namespace in place in
// its cluster, and the generation it was last applied at (0 when s does
// not say). Applied, a failed quota or binding (applied after the
// namespace) and drift being repaired all mean the namespace had been
// provisioned; an apply that failed, a namespace owned by another, a
// deletion do not. A daemon that restarts reads its cluster's last report
// this way to tell drift made while it was down from an account it never
// provisioned.
func (s Status) Provisioned() (gen int64, ok bool) {
	if s.Deleted {
		return 0, false
	}
	if c, ok := s.Cond(CondApplied); ok && c.Status {
		return c.ObservedGeneration, true
	}
	c, ok := s.Cond(CondDegraded)
	if !ok || !c.Status {
		return 0, false
	}
	switch c.Reason {
	case ReasonQuotaFailed, ReasonBindingFailed:
		return c.ObservedGeneration, true
	case ReasonMissing, ReasonDrifted:
		return 0, true
	}
	return 0, false
}

// Equal reports whether two statuses say the same thing (time aside), so a
// daemon publishes only changes.
func (s Status) Equal(o Status) bool {
	if s.Cluster != o.Cluster || s.AccountID != o.AccountID || s.Namespace != o.Namespace ||
		s.ObservedGeneration != o.ObservedGeneration || s.Deleted != o.Deleted || len(s.Conditions) != len(o.Conditions) {
		return false
	}
	for i := range s.Conditions {
		if s.Conditions[i] != o.Conditions[i] {
			return false
		}
	}
	return true
}

// Heartbeat is the payload of cluster events.
type Heartbeat struct {
	Cluster       string
	DaemonVersion string
}

// Health of a cluster, derived from its last heartbeat.
type Health string

const (
	Healthy   Health = "healthy"
	Unhealthy Health = "unhealthy"
	Gone      Health = "gone"
)

// Heartbeat timing: daemons beat every HeartbeatEvery; a cluster is
// unhealthy after UnhealthyAfter without one and gone after GoneAfter.
const (
	HeartbeatEvery = 5 * time.Second
	UnhealthyAfter = 15 * time.Second
	GoneAfter      = 10 * time.Minute
)

// Cluster is the read model's row for one registered cluster.
type Cluster struct {
	Name          string
	DaemonVersion string
	RegisteredAt  time.Time
	LastHeartbeat time.Time
}

// HealthAt derives health at now.
func (c Cluster) HealthAt(now time.Time) Health {
	age := now.Sub(c.LastHeartbeat)
	switch {
	case age <= UnhealthyAfter:
		return Healthy
	case age <= GoneAfter:
		return Unhealthy
	}
	return Gone
}

// Derive is the account's overall state: DELETING while deleting; READY
// when every healthy cluster reports Ready for the current generation (and
// at least one cluster is healthy); DEGRADED when one reports Degraded for
// it; PROVISIONING otherwise. Unhealthy and gone clusters do not hold an
// account back; their reports still show in the per-cluster list.
func Derive(a account.Account, clusters []Cluster, statuses []Status, now time.Time) account.State {
	if a.State == account.StateDeleting || a.State == account.StateDeleted {
		return a.State
	}
	by := map[string]Status{}
	for _, s := range statuses {
		by[s.Cluster] = s
	}
	healthy, ready, degraded := 0, 0, false
	for _, c := range clusters {
		if c.HealthAt(now) != Healthy {
			continue
		}
		healthy++
		s, ok := by[c.Name]
		if !ok || s.ObservedGeneration != a.Generation {
			continue
		}
		if d, ok := s.Cond(CondDegraded); ok && d.Status {
			degraded = true
		}
		if r, ok := s.Cond(CondReady); ok && r.Status {
			ready++
		}
	}
	switch {
	case degraded:
		return account.StateDegraded
	case healthy > 0 && ready == healthy:
		return account.StateReady
	}
	return account.StateProvisioning
}

// SortStatuses orders reports by cluster name, for stable output.
func SortStatuses(s []Status) {
	sort.Slice(s, func(i, j int) bool { return s[i].Cluster < s[j].Cluster })
}
