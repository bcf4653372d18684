package coap

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	uplinks  *prometheus.CounterVec
	latency  prometheus.Histogram
	dropped  *prometheus.CounterVec
	sessions prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, sessions func() float64) *metrics {
	m := &metrics{
		uplinks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveplane_coap_requests_total",
			Help: "CoAP requests answered, by result (ok, malformed, invalid, unauthorized, too_large, not_found, bad_method, bad_format, unavailable, internal). Retransmissions answered from the exchange cache are counted as retransmit.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "liveplane_coap_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer (decode, ingest, store or spool).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveplane_coap_datagrams_dropped_total",
			Help: "Datagrams dropped without an answer, by reason (garbage, overload, not_request).",
		}, []string{"reason"}),
		sessions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "liveplane_coap_sessions",
			Help: "Peers (source address and port) with live exchange state; they expire after the exchange lifetime.",
		}, sessions),
	}
	for _, r := range []string{"ok", "malformed", "invalid", "unauthorized", "too_large", "not_found", "bad_method", "bad_format", "unavailable", "internal", "retransmit"} {
		m.uplinks.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.uplinks, m.latency, m.dropped, m.sessions)
	}
	return m
}
