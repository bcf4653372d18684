package relay

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	upstreams  prometheus.Gauge
	browsers   prometheus.Gauge
	delivered  prometheus.Counter
	written    prometheus.Counter
	gaps       prometheus.Counter
	reconnects prometheus.Counter
	closed     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		upstreams: prometheus.NewGauge(prometheus.GaugeOpts{Name: "liveplane_relay_upstreams",
			Help: "Devices with an open upstream to serve (the relay's registry size)."}),
		browsers: prometheus.NewGauge(prometheus.GaugeOpts{Name: "liveplane_relay_browsers",
			Help: "Open browser sockets."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_relay_queued_total",
			Help: "Lines queued to browsers (one per line per browser)."}),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_relay_written_total",
			Help: "Frames written to browsers after their hello and history."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_relay_gaps_total",
			Help: "Gaps serve reported to the relay's upstreams."}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_relay_upstream_reconnects_total",
			Help: "Upstream reconnect attempts."}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "liveplane_relay_closed_total",
			Help: "Browser sockets closed, by reason (client, lagging, upstream, shutdown, protocol, unavailable)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.upstreams, m.browsers, m.delivered, m.written, m.gaps, m.reconnects, m.closed)
	}
	return m
}
