package events

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

type seqKey struct{}

func withStreamSeq(ctx context.Context, seq uint64) context.Context {
	return context.WithValue(ctx, seqKey{}, seq)
}

// StreamSeq is the stream sequence of the event a handler is running for.
func StreamSeq(ctx context.Context) (uint64, bool) {
	seq, ok := ctx.Value(seqKey{}).(uint64)
	return seq, ok
}

// ProvisioningSubjects are the events the provisioning read model folds.
var ProvisioningSubjects = []string{
	"liveplane.events.account.>",
	"liveplane.events.cluster.>",
	"liveplane.events.provisioning.>",
}

// Projector folds each event into p in one transaction with its stream
// sequence as the checkpoint. Every write is guarded by a version or time,
// so redeliveries, out-of-order retries and replays leave the same rows.
func Projector(p provisioning.Projection) Handler {
	return func(ctx context.Context, ev domain.Event) error {
		seq, _ := StreamSeq(ctx)
		return p.Apply(ctx, seq, func(tx provisioning.ProjectionTx) error {
			return provisioning.Fold(ctx, tx, ev)
		})
	}
}
