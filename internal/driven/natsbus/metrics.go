package natsbus

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type publisherMetrics struct {
	published prometheus.Counter
	errors    *prometheus.CounterVec
	pending   prometheus.Gauge
}

func newPublisherMetrics(reg prometheus.Registerer) (*publisherMetrics, error) {
	m := &publisherMetrics{
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_outbox_published_total",
			Help: "Outbox entries acknowledged by JetStream and marked published (re-publishes after a crash are counted again).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveplane_outbox_publish_errors_total",
			Help: "Failed outbox relay attempts by stage (read, publish, mark); every retry of the same entry counts.",
		}, []string{"stage"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveplane_outbox_pending",
			Help: "Entries in the last batch read from the outbox: capped at the batch size, so it shows a backlog exists, not how large it is.",
		}),
	}
	for _, stage := range []string{stageRead, stagePublish, stageMark} {
		m.errors.WithLabelValues(stage) // export zeros so rate() works from the start
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.published, err = register(reg, m.published); err != nil {
		return nil, err
	}
	if m.errors, err = register(reg, m.errors); err != nil {
		return nil, err
	}
	if m.pending, err = register(reg, m.pending); err != nil {
		return nil, err
	}
	return m, nil
}

// register returns the collector already registered under the same name
// when there is one, so two publishers in a process (tests, a restart of
// the relay) share the series instead of failing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register metric: %w", err)
	}
	return c, nil
}
