package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/drivers/pickupgw"
)

type pickupMetrics struct {
	reg       prometheus.Registerer
	added     prometheus.Counter
	refused   *prometheus.CounterVec
	batch     prometheus.Histogram
	delivered prometheus.Counter
	expired   prometheus.Counter
	push      *prometheus.CounterVec
	dropped   *prometheus.CounterVec
}

func newPickupMetrics(reg prometheus.Registerer) *pickupMetrics {
	m := &pickupMetrics{
		reg: reg,
		added: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_pickup_messages_added_total",
			Help: "Messages committed by addMessage."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveplane_pickup_messages_refused_total",
			Help: "addMessage calls refused, by reason (too_large, quota)."}, []string{"reason"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "liveplane_pickup_add_batch_size",
			Help: "Messages per addMessage group commit.", Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_pickup_messages_delivered_total",
			Help: "Messages handed to the holder of a live session (this instance's or another's)."}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_pickup_messages_expired_total",
			Help: "Messages deleted by --pickup-ttl."}),
		push: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveplane_pickup_push_total",
			Help: "Push notification attempts by token type and outcome (sent, due = will retry, failed, skipped)."},
			[]string{"type", "outcome"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveplane_pickup_deliveries_dropped_total",
			Help: "Deliveries not sent to a socket (no_socket, superseded, unsubscribed); they come back at their deadline."},
			[]string{"reason"}),
	}
	reg.MustRegister(m.added, m.refused, m.batch, m.delivered, m.expired, m.push, m.dropped)
	return m
}

func (m *pickupMetrics) observer() pickup.Observer {
	return pickup.Observer{
		Added:     func(n int) { m.added.Add(float64(n)) },
		Refused:   func(r string) { m.refused.WithLabelValues(r).Inc() },
		Batch:     func(n int) { m.batch.Observe(float64(n)) },
		Delivered: func(n int) { m.delivered.Add(float64(n)) },
		Expired:   func(n int) { m.expired.Add(float64(n)) },
		Push:      func(typ, outcome string) { m.push.WithLabelValues(typ, outcome).Inc() },
	}
}

func (m *pickupMetrics) sockets(h *pickupgw.Hub) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "liveplane_pickup_sockets",
		Help: "Open pickup gateway sockets."}, func() float64 { return float64(h.Sockets()) }))
}
