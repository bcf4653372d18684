// Package natstest starts real nats-servers with JetStream for tests: the
// bus is tested against the server it runs on in production, never a mock.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Start runs a JetStream server on a random loopback port with its store in
// t.TempDir(), stopped by t.Cleanup, and returns its client URL.
func Start(t testing.TB) (url string, srv *server.Server) {
	t.Helper()
	srv = Run(t, Options(t))
	return srv.ClientURL(), srv
}

// Options are Start's server options, for tests that tweak them or restart
// a server on the same port and store (see Restart).
func Options(t testing.TB) *server.Options {
	t.Helper()
	return &server.Options{
		Host:                   "127.0.0.1",
		Port:                   server.RANDOM_PORT,
		JetStream:              true,
		StoreDir:               t.TempDir(),
		JetStreamMaxMemory:     1 << 30,
		JetStreamMaxStore:      4 << 30,
		DisableJetStreamBanner: true,
		NoLog:                  true,
		NoSigs:                 true,
	}
}

// Run starts a server with opts; it is shut down by t.Cleanup.
func Run(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	srv, err := tryRun(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// tryRun is Run that reports a server that did not come up (its port taken,
// say) instead of failing t.
func tryRun(t testing.TB, opts *server.Options) (*server.Server, error) {
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natstest: new server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("natstest: server on %s:%d not ready", opts.Host, opts.Port)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv, nil
}

// Restart stops srv and starts a new server with the same store and port,
// for tests of what clients do while the bus is down and after it returns.
// Down, if not nil, runs while no server is up.
func Restart(t testing.TB, srv *server.Server, opts *server.Options, down func()) *server.Server {
	t.Helper()
	port := srv.Addr().(*net.TCPAddr).Port
	srv.Shutdown()
	srv.WaitForShutdown()
	if down != nil {
		down()
	}
	o := opts.Clone()
	o.Port = port
	return Run(t, o)
}

// Connect connects a client to url, closed by t.Cleanup, and returns it
// with its JetStream context.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
