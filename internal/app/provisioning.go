package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
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
type provisioningReadModel struct {
	proj *sqlstore.Projection
	view *provisioning.View
	js   jetstream.JetStream
	reg  prometheus.Registerer
	log  *slog.Logger
}

func newProvisioningReadModel(store *sqlstore.Store, js jetstream.JetStream, reg prometheus.Registerer, log *slog.Logger) *provisioningReadModel {
	p := store.Projection(ProjectionName)
	return &provisioningReadModel{proj: p, view: provisioning.NewView(p, domain.SystemClock{}), js: js, reg: reg, log: log}
}

func (r *provisioningReadModel) run(ctx context.Context) error {
	return events.Consumer{
		Stream: natsbus.EventsStream, Durable: ProjectionName, FilterSubjects: events.ProvisioningSubjects,
		MaxDeliver: 20, Backoff: daemonBackoff, AckWait: 30 * time.Second, Prefetch: 256,
		Logger: r.log, Registerer: r.reg,
	}.Run(ctx, r.js, events.Projector(r.proj))
}
