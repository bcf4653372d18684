// Package app is the composition root: the only package that knows the
// concrete drivers and driven adapters. It builds them in dependency order
// (driven -> domain -> drivers), runs them under one errgroup and shuts them
// down in reverse.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/livews"
	"github.com/liveplane/liveplane/internal/drivers/ops"
	"github.com/liveplane/liveplane/internal/drivers/rpc"
)

// AdminTokenFile is the file, inside the data dir, that receives the admin
// token the first time a database is initialised.
const AdminTokenFile = "admin.token"

// Serve runs `liveplane serve` until ctx ends, then shuts down gracefully.
// Messages for the operator that are not log lines (the admin token, shown
// once) go to console.
func Serve(ctx context.Context, cfg config.Serve, log *slog.Logger, console io.Writer) (err error) {
	start := time.Now()
	startProfiling(log)
	tuneGC(cfg, log)
	dir, err := claimDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer dir.release()

	// Listen first: a port in use is the commonest start-up failure, and
	// failing here means nothing else was opened or written.
	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		return fmt.Errorf("--http %s: %w", cfg.HTTP, unwrapSyscall(err))
	}
	defer ln.Close()
	pickupLn, err := listenPickup(cfg)
	if err != nil {
		return err
	}
	if pickupLn != nil {
		defer pickupLn.Close()
	}
	dev := newDevices(log)
	coapLn, err := listenCoAP(cfg, dev.ingest)
	if err != nil {
		return err
	}
	defer coapLn.close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	bus, err := openBus(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer bus.close()

	var publisher *natsbus.Publisher
	store, err := sqlstore.Open(ctx, sqlstore.Options{
		URL: cfg.Database, SQLitePath: cfg.SQLitePath(), Logger: log.With("component", "store"),
		Registerer: reg, OnCommit: failpoint("after-commit", func() { publisher.Notify() }),
	})
	if err != nil {
		return fmt.Errorf("--database: %w", err)
	}
	defer store.Close()

	publisher, err = natsbus.NewPublisher(store, bus.relayJS, natsbus.PublisherOptions{
		Logger: log, Registerer: reg, AfterPublish: failpointSeqs("after-publish"),
	})
	if err != nil {
		return err
	}

	accounts := account.NewService(store.Accounts(), domain.SystemClock{})
	if err := ensureAdminToken(ctx, accounts, cfg.DataDir, console); err != nil {
		return err
	}
	pk, err := startPickup(ctx, cfg, pickupLn, store, bus.nc, accounts, reg, log)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	health := ops.New(reg,
		ops.Check{Name: "store", Fn: store.Ping},
		ops.Check{Name: "bus", Fn: bus.ping},
	)
	health.Mount(mux)
	readModel, err := newProvisioningReadModel(ctx, store, accounts, bus.js, reg, log)
	if err != nil {
		return err
	}
	rpc.MountWithProvisioning(mux, accounts, readModel.view, log.With("component", "rpc"))
	lw := liveLogWindow(cfg)
	lw.Replicas = natsbus.ReplicasFor(bus.nc)
	window, err := natsbus.NewLiveWindow(ctx, bus.js, lw, log.With("component", "livelog"))
	if err != nil {
		return fmt.Errorf("--nats: live-log stream: %w", err)
	}
	live, err := natsbus.NewLiveLog(bus.js, natsbus.LiveLogOptions{
		Logger: log.With("component", "livelog"), Registerer: reg, Ensure: window.Ensure,
	})
	if err != nil {
		return err
	}
	defer live.Close() // after dev.shutdown (deferred below): no uplink publishes any more
	if err := dev.start(cfg, coapLn, store, live, reg); err != nil {
		return err
	}
	defer dev.shutdown()
	rpc.MountDevices(mux, dev.svc, accounts, log.With("component", "rpc"))
	rpc.MountConfig(mux, dev.svc, accounts, log.With("component", "rpc"))
	rpc.MountPickup(mux, pickup.NewQueues(store.PickupQueues(), domain.SystemClock{}), accounts, log.With("component", "rpc"))
	stream, err := livews.New(livews.Options{
		Auth: accounts, Devices: dev.svc, Window: window,
		ServiceTokens: cfg.LiveLog.RelayTokens, Origins: cfg.LiveLog.WSOrigins,
		PingInterval: cfg.LiveLog.PingInterval, MaxFlushDelay: cfg.LiveLog.MaxFlushDelay, Registerer: reg, Logger: log.With("component", "livews"),
	})
	if err != nil {
		return err
	}
	mux.Handle("GET /ws", stream)
	consoleShared, err := natsbus.EnsureConsoleShared(ctx, bus.js)
	if err != nil {
		return err
	}
	if err := mountConsole(mux, cfg, accounts, dev.svc, stream, consoleShared, log.With("component", "console")); err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Protocols:         protocols(),
	}

	g, gctx := errgroup.WithContext(ctx)
	pubCtx, stopPublisher := context.WithCancel(context.Background())
	defer stopPublisher()
	g.Go(func() error { return publisher.Run(pubCtx) })
	g.Go(func() error { return readModel.run(gctx) })
	g.Go(func() error { return stream.Run(gctx, window) })
	g.Go(func() error { return consoleShared.Run(gctx) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	pickupAddr := "off"
	if pk != nil {
		g.Go(pk.serve)
		pickupAddr = pickupLn.Addr().String()
	}
	g.Go(dev.serve)
	health.SetReady(true)
	log.Info("liveplane serving", "http", ln.Addr().String(), "pickup", pickupAddr,
		"coap", coapLn.udp.LocalAddr().String(), "coaps", coapLn.dtls.Addr().String(), "engine", store.Engine(),
		"bus", bus.describe, "data_dir", cfg.DataDir, "ready_in", time.Since(start).Round(time.Millisecond))
	go releaseStartupMemory(gctx, log)

	g.Go(func() error {
		<-gctx.Done()
		// Stop intake: readiness first (load balancers), then the listener,
		// letting in-flight calls finish within the grace period.
		health.SetReady(false)
		log.Info("shutting down", "grace", cfg.ShutdownGrace)
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		err := srv.Shutdown(sctx)
		// Hijacked stream connections are not the HTTP server's: close them
		// with 1001 so clients resume on another replica.
		err = errors.Join(err, stream.Shutdown(sctx))
		if pk != nil {
			err = errors.Join(err, pk.shutdown(sctx))
		}
		err = errors.Join(err, dev.shutdown())
		// Events committed so far stay in the outbox if not yet published;
		// the next start relays them.
		stopPublisher()
		return err
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

func protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true) // gRPC without TLS on loopback / behind a TLS-terminating proxy
	return p
}

// ensureAdminToken creates the admin token on first start, writes it to
// DATA_DIR/admin.token (0600) and prints it once.
func ensureAdminToken(ctx context.Context, accounts *account.Service, dataDir string, console io.Writer) error {
	token, err := accounts.EnsureAdminToken(ctx)
	if err != nil {
		return fmt.Errorf("admin token: %w", err)
	}
	if token == "" {
		return nil
	}
	path := filepath.Join(dataDir, AdminTokenFile)
	werr := writeSecret(path, token+"\n")
	fmt.Fprintf(console, "liveplane: created the admin token (shown once; also in %s, mode 0600):\n  %s\n", path, token)
	if werr != nil {
		return fmt.Errorf("write admin token file: %w (the token is printed above)", werr)
	}
	return nil
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		if errors.Is(se.Err, syscall.EADDRINUSE) {
			return errors.New("address already in use")
		}
		return se.Err
	}
	return err
}

// bus is the NATS side: an embedded server or a connection to a cluster.
type bus struct {
	embedded *natsbus.Embedded
	nc       *nats.Conn
	js       jetstream.JetStream
	// relay is the outbox relay's own connection: it keeps no reconnect
	// buffer (natsbus.WithoutReconnectBuffer), which the rest of serve's
	// publishers want.
	relay    *nats.Conn
	relayJS  jetstream.JetStream
	describe string
}

func openBus(ctx context.Context, cfg config.Serve, log *slog.Logger) (*bus, error) {
	b := &bus{}
	var err error
	if cfg.NATS == "" {
		eo := natsbus.EmbeddedOptions{
			StoreDir: cfg.NATSStoreDir(), Listen: cfg.NATSListen, Token: cfg.NATSToken, Logger: log,
		}
		// Room for the live-log window's --livelog-max-bytes where it is kept.
		if liveLogWindow(cfg).Storage == jetstream.MemoryStorage {
			eo.MaxMemory = natsbus.DefaultEmbeddedMaxMemory + cfg.LiveLog.MaxBytes
		} else {
			eo.MaxStore = natsbus.DefaultEmbeddedMaxStore + cfg.LiveLog.MaxBytes
		}
		b.embedded, err = natsbus.StartEmbedded(ctx, eo)
		if err != nil {
			return nil, fmt.Errorf("--nats (embedded): %w", err)
		}
		b.nc, err = b.embedded.Connect("liveplane-serve")
		if err == nil {
			b.relay, err = b.embedded.Connect("liveplane-serve-outbox", natsbus.WithoutReconnectBuffer())
		}
		b.describe = "embedded"
	} else {
		b.nc, err = natsbus.Connect(ctx, cfg.NATS, "liveplane-serve", log)
		if err == nil {
			b.relay, err = natsbus.Connect(ctx, cfg.NATS, "liveplane-serve-outbox", log, natsbus.WithoutReconnectBuffer())
		}
		b.describe = config.MaskURL(cfg.NATS)
	}
	if err != nil {
		b.close()
		return nil, fmt.Errorf("--nats: %w", err)
	}
	if b.js, err = jetstream.New(b.nc); err == nil {
		err = natsbus.EnsureStreamsReplicated(ctx, b.js, natsbus.ReplicasFor(b.nc))
	}
	if err == nil {
		b.relayJS, err = jetstream.New(b.relay, jetstream.WithPublishAsyncTimeout(5*time.Second))
	}
	if err != nil {
		b.close()
		return nil, fmt.Errorf("--nats: %w", err)
	}
	return b, nil
}

func (b *bus) ping(ctx context.Context) error {
	if b.nc.Status() != nats.CONNECTED {
		return fmt.Errorf("nats: %s", b.nc.Status())
	}
	return nil
}

func (b *bus) close() {
	if b.relay != nil {
		_ = b.relay.Drain()
		b.relay.Close()
	}
	if b.nc != nil {
		_ = b.nc.Drain()
		b.nc.Close()
	}
	if b.embedded != nil {
		b.embedded.Shutdown()
	}
}

func liveLogWindow(cfg config.Serve) natsbus.LiveLogWindow {
	w := natsbus.LiveLogWindow{Lines: cfg.LiveLog.WindowLines, Age: cfg.LiveLog.WindowAge, MaxBytes: cfg.LiveLog.MaxBytes,
		Storage: jetstream.FileStorage}
	if cfg.LiveLog.Storage == "memory" {
		w.Storage = jetstream.MemoryStorage
	}
	return w
}
