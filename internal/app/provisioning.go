package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/events"
)

// ProjectionName is the durable consumer and checkpoint of the
// provisioning read model.
const ProjectionName = "projection-provisioning"

// provisioningReadModel is the event driver of flow A: it folds account,
// cluster and status events into the read model the API shows.
// It also finalises deleted accounts: after a Deleted report is folded, and
// in a periodic sweep (for clusters that turned gone meanwhile).
type provisioningReadModel struct {
	proj  *sqlstore.Projection
	view  *provisioning.View
	beats *natsbus.HeartbeatWatcher
	fin   *provisioning.Finalizer
	js    jetstream.JetStream
	reg   prometheus.Registerer
	log   *slog.Logger
}

// finalizeSweepEvery is how often DELETING accounts are re-checked.
const finalizeSweepEvery = 5 * time.Second

func newProvisioningReadModel(ctx context.Context, store *sqlstore.Store, accounts *account.Service, js jetstream.JetStream,
	reg prometheus.Registerer, log *slog.Logger) (*provisioningReadModel, error) {
	kv, err := natsbus.EnsureHeartbeats(ctx, js)
	if err != nil {
		return nil, err
	}
	p := store.Projection(ProjectionName)
	w := natsbus.NewHeartbeatWatcher(kv)
	view := provisioning.NewView(p, w, domain.SystemClock{})
	return &provisioningReadModel{
		proj: p, view: view, beats: w, js: js, reg: reg, log: log,
		fin: provisioning.NewFinalizer(view, store.Accounts(), accounts.Finalize),
	}, nil
}

func (r *provisioningReadModel) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.beats.Run(ctx) })
	g.Go(func() error { r.sweep(ctx); return nil })
	project := events.Projector(r.proj)
	g.Go(func() error {
		return events.Consumer{
			Stream: natsbus.EventsStream, Durable: ProjectionName, FilterSubjects: events.ProvisioningSubjects,
			MaxDeliver: 20, Backoff: daemonBackoff, AckWait: 30 * time.Second, Prefetch: 256,
			// Folds are guarded per row and one aggregate's events stay in
			// order, so workers are safe; on SQLite their transactions
			// share group commits.
			Workers: 4,
			Logger:  r.log, Registerer: r.reg,
		}.Run(ctx, r.js, func(ctx context.Context, ev domain.Event) error {
			if err := project(ctx, ev); err != nil {
				return err
			}
			// A failed finalisation is not the fold's failure: the sweep
			// tries again within finalizeSweepEvery.
			if s, ok := ev.Data.(provisioning.Status); ok && s.Deleted {
				if _, err := r.fin.Check(ctx, s.AccountID); err != nil && ctx.Err() == nil {
					r.log.Warn("finalise after a Deleted report failed; the sweep retries", "account", s.AccountID, "err", err)
				}
			}
			return nil
		})
	})
	return g.Wait()
}

func (r *provisioningReadModel) sweep(ctx context.Context) {
	t := time.NewTicker(finalizeSweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := r.fin.Sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("finalizer sweep failed", "err", err)
		} else if n > 0 {
			r.log.Info("finalised deleted accounts", "count", n)
		}
	}
}
