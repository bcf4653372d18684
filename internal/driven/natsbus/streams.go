package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream names and subjects. Event subjects come from domain.Event.Subject;
// dead letters from the events driver, which defaults to DLQSubjectPrefix +
// the consumer's durable name.
const (
	EventsStream        = "LIVEPLANE_EVENTS"
	EventsSubjects      = "liveplane.events.>"
	EventsSubjectPrefix = "liveplane.events."
	DLQStream           = "LIVEPLANE_DLQ"
	DLQSubjects         = "liveplane.dlq.>"
	DLQSubjectPrefix    = "liveplane.dlq."
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. The outbox
// relay may re-publish after a crash between ack and MarkPublished; the
// window must outlast that gap (a restart), which ten minutes does.
const DuplicateWindow = 10 * time.Minute

// Retention limits. Events are a feed for consumers, not the system of
// record (the SQL store is): a consumer down for longer than EventsMaxAge
// rebuilds from the store.
const (
	EventsMaxAge   = 7 * 24 * time.Hour
	EventsMaxBytes = 1 << 30
	DLQMaxAge      = 30 * 24 * time.Hour
	DLQMaxBytes    = 256 << 20
)

// StreamConfigs returns the declared streams, for EnsureStreams and for
// tests that need to compare.
func StreamConfigs() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        EventsStream,
			Description: "liveplane domain events, relayed from the transactional outbox",
			Subjects:    []string{EventsSubjects},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      EventsMaxAge,
			MaxBytes:    EventsMaxBytes,
			MaxMsgSize:  1 << 20,
			Duplicates:  DuplicateWindow,
		},
		{
			Name:        DLQStream,
			Description: "liveplane events that consumers gave up on; inspect, fix, replay",
			Subjects:    []string{DLQSubjects},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			MaxAge:      DLQMaxAge,
			MaxBytes:    DLQMaxBytes,
			// Dead-letter publishes carry a Nats-Msg-Id too, so a consumer
			// retrying one after a lost ack stores it once.
			Duplicates: DuplicateWindow,
		},
	}
}

// EnsureStreams creates the streams or updates them to the declared
// configuration with one replica for new streams; see EnsureStreamsReplicated.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	return EnsureStreamsReplicated(ctx, js, 1)
}

// EnsureStreamsReplicated creates the streams or updates them to the
// declared configuration. It is idempotent, and safe to run from every
// replica at startup. New streams get replicas copies (ReplicasFor picks
// the count for a connection); an existing stream keeps its replica count,
// so an operator who changed it is not undone by the next deploy.
func EnsureStreamsReplicated(ctx context.Context, js jetstream.JetStream, replicas int) error {
	for _, cfg := range StreamConfigs() {
		cfg.Replicas = max(replicas, 1)
		s, err := js.Stream(ctx, cfg.Name)
		switch {
		case err == nil:
			cfg.Replicas = s.CachedInfo().Config.Replicas
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// ReplicasFor returns how many copies new streams get on nc's NATS: three
// on a cluster of three or more servers, so that losing one server loses
// neither a stream nor its quorum (what was acknowledged stays stored);
// the cluster's size when it is smaller; one on a single server.
func ReplicasFor(nc *nats.Conn) int {
	if nc.ConnectedClusterName() == "" {
		return 1
	}
	return min(3, max(len(nc.Servers()), 1))
}
