package provisioning

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// Namespace is what a daemon needs to know about a namespace in its cluster.
type Namespace struct {
	Name        string
	UID         string
	Labels      map[string]string
	Terminating bool
	// AppliedByUs: FieldManager applied it once (managedFields), so labels
	// edited away out of band do not make it somebody else's.
	AppliedByUs bool
}

// OwnedBy reports whether the namespace carries accountID's ownership label.
func (n Namespace) OwnedBy(accountID string) bool {
	return n.Labels[LabelManagedBy] == ManagedByValue && n.Labels[LabelAccountID] == accountID
}

// OwnedByOther reports whether the namespace is not accountID's to manage:
// it names another account, or it was never applied by the daemons (it
// pre-existed, or somebody else made it). A namespace the daemons applied
// whose labels were edited away is still theirs (drift to repair).
func (n Namespace) OwnedByOther(accountID string) bool {
	if id := n.Labels[LabelAccountID]; id != "" && id != accountID {
		return true
	}
	return !n.OwnedBy(accountID) && !n.AppliedByUs
}

// Names of the objects the daemons keep in an account's namespace.
const (
	QuotaName       = "liveplane"
	RoleBindingName = "liveplane-group"
	// DefaultGroupRole is the ClusterRole an account's group is bound to
	// unless the daemon is configured otherwise.
	DefaultGroupRole = "edit"
)

// Kube is one Kubernetes cluster, as the daemon uses it. Errors are the
// apiserver's or the network's; callers retry them.
type Kube interface {
	// Namespace reads a namespace; found is false when it does not exist.
	Namespace(ctx context.Context, name string) (ns Namespace, found bool, err error)
	// ApplyNamespace server-side applies the namespace with these labels
	// (field manager FieldManager, taking over conflicting fields).
	ApplyNamespace(ctx context.Context, name string, labels map[string]string) (Namespace, error)
	// DeleteNamespace starts deleting; a missing namespace is not an error.
	DeleteNamespace(ctx context.Context, name string) error
	// ApplyQuota server-side applies the ResourceQuota QuotaName in
	// namespace with spec.hard from q (cpu, memory, pods; zero fields left
	// out) and these labels, taking over conflicting fields.
	ApplyQuota(ctx context.Context, namespace string, labels map[string]string, q account.Quota) error
	// ApplyRoleBinding server-side applies the RoleBinding RoleBindingName
	// in namespace, binding group to the ClusterRole role.
	ApplyRoleBinding(ctx context.Context, namespace string, labels map[string]string, group, role string) error
	// DeleteQuota and DeleteRoleBinding delete the object when it carries
	// the managed-by label; a missing (or somebody else's) object is left
	// alone and is not an error.
	DeleteQuota(ctx context.Context, namespace string) error
	DeleteRoleBinding(ctx context.Context, namespace string) error
	// Snapshot lists, in three calls whatever the number of accounts,
	// the namespaces, ResourceQuotas and RoleBindings labelled managed-by
	// liveplane: what the resync compares with.
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Snapshot is the cluster's liveplane objects at one moment.
type Snapshot struct {
	Namespaces map[string]Namespace   // by name
	Quotas     map[string]ObjectState // by namespace (the object QuotaName)
	Bindings   map[string]ObjectState // by namespace (the object RoleBindingName)
}

// ObjectState is a quota or binding as the resync needs it.
type ObjectState struct {
	Labels map[string]string
	// EditedByOthers: a field manager other than FieldManager owns some
	// of its spec (edited out of band); the next apply takes it back.
	EditedByOthers bool
}

// Beater records a daemon's heartbeat (the newest one per cluster).
type Beater interface {
	Beat(ctx context.Context, hb Heartbeat) error
}

// Publisher sends the daemon's events (registration, heartbeats, status)
// to the bus; a retried publish of the same event id is stored once.
type Publisher interface {
	Publish(ctx context.Context, ev domain.Event) error
}
