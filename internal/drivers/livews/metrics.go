package livews

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Close reasons counted in liveplane_ws_closed_total.
const (
	reasonLagging  = "lagging"
	reasonResync   = "resync"
	reasonProtocol = "protocol"
	reasonPing     = "ping"
	reasonClient   = "client"
	reasonShutdown = "shutdown"
	reasonError    = "error"
)

type metrics struct {
	subscribers prometheus.Gauge
	delivered   prometheus.Counter
	closed      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveplane_ws_subscribers", Help: "Open live-log stream connections on this replica.",
		}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_ws_delivered_total", Help: "Live-log lines written to stream subscribers (history included).",
		}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "liveplane_ws_closed_total", Help: "Live-log stream connections closed, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{reasonLagging, reasonResync, reasonProtocol, reasonPing, reasonClient, reasonShutdown, reasonError} {
		m.closed.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.subscribers, m.delivered, m.closed} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

// register exports the hub's write counters: syscalls per delivered line
// is liveplane_ws_writes_total ÷ liveplane_ws_delivered_total.
func (h *hub) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "liveplane_ws_writes_total", Help: "write(2)/writev(2) calls carrying live-log lines to stream subscribers.",
		}, func() float64 { return float64(h.fl.writes.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "liveplane_ws_coalescing", Help: "1 while the hub writes lines in flush rounds instead of one write per line.",
		}, func() float64 {
			if h.coalescing.Load() {
				return 1
			}
			return 0
		}),
	} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}
