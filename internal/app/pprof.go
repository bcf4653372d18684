package app

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
)

// startProfiling serves Go's profiling endpoints (/debug/pprof/) when
// LIVEPLANE_PPROF names a loopback address, for profiling a server under a
// benchmark. It is deliberately not a flag: profiles expose internals, so
// it only binds loopback and is off unless asked for by the environment.
func startProfiling(log *slog.Logger) {
	addr := os.Getenv("LIVEPLANE_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(strings.Trim(host, "[]")); err != nil || ip == nil || !ip.IsLoopback() {
		log.Warn("LIVEPLANE_PPROF ignored: it must be a loopback host:port", "value", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("LIVEPLANE_PPROF: listen", "addr", addr, "err", err)
		return
	}
	log.Info("profiling endpoints up", "url", "http://"+l.Addr().String()+"/debug/pprof/")
	go func() { _ = http.Serve(l, mux) }()
}
