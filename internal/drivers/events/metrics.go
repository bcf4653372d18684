package events

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	handled, failed, deadLettered, resubscribed prometheus.Counter
}

var (
	handledOpts = prometheus.CounterOpts{
		Name: "liveplane_events_handled_total",
		Help: "Events whose handler succeeded and whose ack the server confirmed.",
	}
	failedOpts = prometheus.CounterOpts{
		Name: "liveplane_events_failed_total",
		Help: "Deliveries that failed: handler errors and undecodable messages (each retry counts).",
	}
	deadLetteredOpts = prometheus.CounterOpts{
		Name: "liveplane_events_dead_lettered_total",
		Help: "Events moved to the dead-letter subject after MaxDeliver failures or as poison.",
	}
	resubscribedOpts = prometheus.CounterOpts{
		Name: "liveplane_events_resubscribed_total",
		Help: "Subscriptions of a consumer that ended (missed heartbeats, consumer deleted, connection closed) and were set up again.",
	}
)

// newMetrics returns this consumer's series. Consumers sharing a registry
// share the vectors, one label value each.
func newMetrics(reg prometheus.Registerer, consumer string) (*metrics, error) {
	var m metrics
	for dst, opts := range map[*prometheus.Counter]prometheus.CounterOpts{
		&m.handled: handledOpts, &m.failed: failedOpts, &m.deadLettered: deadLetteredOpts,
		&m.resubscribed: resubscribedOpts,
	} {
		vec, err := registerVec(reg, prometheus.NewCounterVec(opts, []string{"consumer"}))
		if err != nil {
			return nil, err
		}
		*dst = vec.WithLabelValues(consumer)
	}
	return &m, nil
}

func registerVec(reg prometheus.Registerer, vec *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if reg == nil {
		return vec, nil
	}
	err := reg.Register(vec)
	if err == nil {
		return vec, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
			return existing, nil
		}
	}
	return nil, fmt.Errorf("register metric: %w", err)
}
