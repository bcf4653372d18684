// Package ops serves the operational endpoints: /healthz (the process
// answers), /readyz (its dependencies answer) and /metrics (Prometheus).
package ops

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness probe; it must return within its context.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Handler serves the three endpoints. Ready stays false until SetReady(true)
// (start-up finished) and turns false again when shutdown begins, so a load
// balancer stops sending before intake stops.
type Handler struct {
	checks  []Check
	ready   atomic.Bool
	metrics http.Handler
}

func New(g prometheus.Gatherer, checks ...Check) *Handler {
	return &Handler{checks: checks, metrics: promhttp.HandlerFor(g, promhttp.HandlerOpts{})}
}

func (h *Handler) SetReady(v bool) { h.ready.Store(v) }

// Mount registers the endpoints on mux.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.readyz)
	mux.Handle("GET /metrics", h.metrics)
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	status := map[string]string{}
	ok := h.ready.Load()
	if !ok {
		status["server"] = "starting or shutting down"
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	for _, c := range h.checks {
		if err := c.Fn(ctx); err != nil {
			ok = false
			status[c.Name] = err.Error()
		} else {
			status[c.Name] = "ok"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(status)
}
