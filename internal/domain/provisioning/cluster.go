package provisioning

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
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
}

// Publisher sends the daemon's events (registration, heartbeats, status)
// to the bus; a retried publish of the same event id is stored once.
type Publisher interface {
	Publish(ctx context.Context, ev domain.Event) error
}
