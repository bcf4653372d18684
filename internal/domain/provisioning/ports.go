package provisioning

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// ReadModel is the query side the API reads: what the projection folded.
// Reads are eventually consistent with the event stream.
type ReadModel interface {
	Clusters(ctx context.Context) ([]Cluster, error)
	// Statuses returns every cluster's last report for the account.
	Statuses(ctx context.Context, accountID string) ([]Status, error)
}

// Projection folds events into the read model. Apply runs fn in one write
// transaction that also records seq as the checkpoint; every write in it
// must be idempotent (a replay of the same event changes nothing).
type Projection interface {
	Apply(ctx context.Context, seq uint64, fn func(ProjectionTx) error) error
}

// ProjectionTx is the write side of one projection transaction. Each method
// ignores input older than what the row already holds.
type ProjectionTx interface {
	// UpsertAccount records the account's spec at version a.Generation.
	UpsertAccount(ctx context.Context, a account.Account) error
	// UpsertCluster records a registration or heartbeat at time at.
	UpsertCluster(ctx context.Context, hb Heartbeat, at time.Time, registered bool) error
	// UpsertStatus records a cluster report (newer report time wins).
	UpsertStatus(ctx context.Context, s Status) error
}

// Fold applies one event to the read model. Unknown events change nothing.
func Fold(ctx context.Context, tx ProjectionTx, ev domain.Event) error {
	switch d := ev.Data.(type) {
	case account.Account:
		return tx.UpsertAccount(ctx, d)
	case Heartbeat:
		return tx.UpsertCluster(ctx, d, ev.Time, ev.Type == EventClusterRegistered)
	case Status:
		return tx.UpsertStatus(ctx, d)
	}
	return nil
}

// HeartbeatSource tells when each cluster's daemon last beat. Heartbeats
// are kept apart from the event stream (one value per cluster, replaced on
// every beat), so they never grow it; registrations stay events.
type HeartbeatSource interface {
	// LastHeartbeats maps cluster name to the time of its newest beat.
	LastHeartbeats(ctx context.Context) (map[string]time.Time, error)
}

// View combines an account with its per-cluster reports for the API.
type View struct {
	rm    ReadModel
	hb    HeartbeatSource // nil: registrations only
	clock domain.Clock
}

func NewView(rm ReadModel, hb HeartbeatSource, clock domain.Clock) *View {
	return &View{rm: rm, hb: hb, clock: clock}
}

// clusters is the read model's clusters with the newest heartbeat of each.
func (v *View) clusters(ctx context.Context) ([]Cluster, error) {
	cl, err := v.rm.Clusters(ctx)
	if err != nil || v.hb == nil {
		return cl, err
	}
	last, err := v.hb.LastHeartbeats(ctx)
	if err != nil {
		return nil, err
	}
	return MergeHeartbeats(cl, last), nil
}

// MergeHeartbeats sets each cluster's LastHeartbeat to the newer of its
// registration (or folded heartbeat event) and last.
func MergeHeartbeats(cl []Cluster, last map[string]time.Time) []Cluster {
	for i := range cl {
		if t, ok := last[cl[i].Name]; ok && t.After(cl[i].LastHeartbeat) {
			cl[i].LastHeartbeat = t
		}
	}
	return cl
}

// Describe fills in a's derived state and returns the per-cluster reports.
func (v *View) Describe(ctx context.Context, a account.Account) (account.Account, []Status, error) {
	const op = "provisioning.Describe"
	cl, err := v.clusters(ctx)
	if err != nil {
		return a, nil, domain.Wrap(op, err)
	}
	st, err := v.rm.Statuses(ctx, a.ID)
	if err != nil {
		return a, nil, domain.Wrap(op, err)
	}
	SortStatuses(st)
	a.State = Derive(a, cl, st, v.clock.Now())
	return a, st, nil
}

// Clusters lists the registered clusters.
func (v *View) Clusters(ctx context.Context) ([]Cluster, error) {
	cl, err := v.clusters(ctx)
	return cl, domain.Wrap("provisioning.Clusters", err)
}

// Now is the view's clock, for health figures.
func (v *View) Now() time.Time { return v.clock.Now() }
