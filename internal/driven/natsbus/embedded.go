// Package natsbus is the NATS JetStream adapter: an embedded nats-server for
// single-binary installs, connections to an external server or cluster, the
// stream definitions, and the transactional-outbox relay (Publisher).
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Defaults sized for a control plane whose whole process should idle under
// 40 MiB: liveplane keeps nothing in memory streams (unless the live-log
// window is put there), and MaxStore only has to cover the MaxBytes of the
// streams EnsureStreams declares (serve adds the live-log window's).
const (
	DefaultEmbeddedMaxMemory int64 = 16 << 20
	DefaultEmbeddedMaxStore  int64 = 4 << 30
)

// readyTimeout bounds the wait after Start; Start itself is synchronous, so
// this only matters if nats-server changes that.
const readyTimeout = 10 * time.Second

// EmbeddedOptions configures StartEmbedded.
type EmbeddedOptions struct {
	StoreDir string // JetStream files live in StoreDir/jetstream; created if missing
	// Listen is "" for in-process connections only (no TCP port at all), or a
	// host:port for other processes; port 0 picks a free port.
	Listen string
	Token  string // required when Listen is set: an open TCP port must not be anonymous
	Logger *slog.Logger
	// MaxMemory and MaxStore cap JetStream; zero means the defaults above.
	MaxMemory int64
	MaxStore  int64
}

// Embedded is a nats-server running inside this process.
type Embedded struct {
	srv   *server.Server
	token string
	log   *slog.Logger
}

// StartEmbedded starts nats-server with JetStream and returns once it
// accepts connections. A failure (port taken, unusable store) is returned
// as an error, never as an exit of the process.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	start := time.Now()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats-server")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start embedded nats-server: %w", err)
	}
	sopts, err := serverOptions(o)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats-server: %w", err)
	}
	if err := checkStoreDir(o.StoreDir); err != nil {
		return nil, fmt.Errorf("start embedded nats-server: %w", err)
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats-server: %w", err)
	}
	sl := &serverLog{log: log}
	srv.SetLoggerV2(sl, false, false, false)

	// Start is synchronous up to the accept loop; run it aside only so a
	// cancelled ctx is honoured while JetStream recovers a large store.
	started := make(chan struct{})
	go func() { srv.Start(); close(started) }()
	select {
	case <-started:
	case <-ctx.Done():
		go func() { <-started; srv.Shutdown() }()
		return nil, fmt.Errorf("start embedded nats-server: %w", ctx.Err())
	}
	if msg := sl.fatalMsg(); msg != "" {
		srv.Shutdown()
		srv.WaitForShutdown()
		where := "store " + o.StoreDir
		if o.Listen != "" {
			where += ", listen " + o.Listen
		}
		return nil, fmt.Errorf("start embedded nats-server (%s): %w", where, errors.New(msg))
	}
	if !srv.ReadyForConnections(readyTimeout) || !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("start embedded nats-server: not ready with JetStream after %s", readyTimeout)
	}
	e := &Embedded{srv: srv, token: o.Token, log: log}
	attrs := []any{"ready_in", time.Since(start), "store_dir", o.StoreDir}
	if o.Listen != "" {
		attrs = append(attrs, "listen", srv.Addr().String())
	}
	log.Info("embedded nats-server ready", attrs...)
	return e, nil
}

func serverOptions(o EmbeddedOptions) (*server.Options, error) {
	if o.StoreDir == "" {
		return nil, errors.New("StoreDir is required")
	}
	maxMem, maxStore := o.MaxMemory, o.MaxStore
	if maxMem <= 0 {
		maxMem = DefaultEmbeddedMaxMemory
	}
	if maxStore <= 0 {
		maxStore = DefaultEmbeddedMaxStore
	}
	so := &server.Options{
		ServerName:             "liveplane",
		JetStream:              true,
		StoreDir:               o.StoreDir,
		JetStreamMaxMemory:     maxMem,
		JetStreamMaxStore:      maxStore,
		DisableJetStreamBanner: true,
		NoSigs:                 true, // signals belong to the liveplane process, not to the library
		DontListen:             o.Listen == "",
	}
	if o.Listen == "" {
		return so, nil
	}
	if o.Token == "" {
		return nil, fmt.Errorf("listen %s: a Token is required when listening on TCP", o.Listen)
	}
	host, portStr, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", o.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen %q: invalid port", o.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as "default 4222"
	}
	so.Host, so.Port, so.Authorization = host, port, o.Token
	return so, nil
}

// checkStoreDir fails early with the path in the message: nats-server would
// otherwise report a read-only or missing directory far less plainly.
func checkStoreDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("store dir: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return fmt.Errorf("store dir %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_ = f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("store dir %s: %w", dir, err)
	}
	return nil
}

// Connect returns an in-process client connection: no socket, no port, and
// it works whether or not the server listens on TCP. extra options come last.
func (e *Embedded) Connect(name string, extra ...nats.Option) (*nats.Conn, error) {
	opts := append(connLogOptions(e.log.With("conn", name)),
		nats.InProcessServer(e.srv), nats.Name(name))
	opts = append(opts, extra...)
	if e.token != "" {
		opts = append(opts, nats.Token(e.token))
	}
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s to embedded nats-server: %w", name, err)
	}
	return nc, nil
}

// ClientURL is the TCP address other processes use, or "" when the server
// does not listen.
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown stops the server and returns once it has closed its store.
// Close client connections first: they would otherwise try to reconnect.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
