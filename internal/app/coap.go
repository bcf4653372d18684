package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"

	coapnet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/coap"
)

// SpoolDir is where, inside the data dir, uplinks wait while the database
// is down.
const SpoolDir = "spool"

// coapListeners are bound early, with the other listeners, so a port in use
// fails before anything is written.
type coapListeners struct {
	udp  *net.UDPConn
	dtls *coapnet.DTLSListener
	once sync.Once
}

func listenCoAP(cfg config.Serve, in coap.Ingester) (*coapListeners, error) {
	addr, err := net.ResolveUDPAddr("udp", cfg.CoAP)
	if err != nil {
		return nil, fmt.Errorf("--coap %s: %w", cfg.CoAP, err)
	}
	ls := &coapListeners{}
	if ls.udp, err = net.ListenUDP("udp", addr); err != nil {
		return nil, fmt.Errorf("--coap %s: %w", cfg.CoAP, unwrapSyscall(err))
	}
	// Generous socket buffers absorb bursts while the one reader is busy.
	_ = ls.udp.SetReadBuffer(4 << 20)
	_ = ls.udp.SetWriteBuffer(4 << 20)
	if ls.dtls, err = coap.ListenDTLS(cfg.CoAPS, in); err != nil {
		ls.udp.Close()
		return nil, fmt.Errorf("--coaps %s: %w", cfg.CoAPS, unwrapSyscall(err))
	}
	return ls, nil
}

func (ls *coapListeners) close() {
	ls.once.Do(func() {
		ls.udp.Close()
		ls.dtls.Close()
	})
}

// devices is serve's device side: the domain service, the uplink writer with
// its spool, and the CoAP server. Its Ingester exists before the store does
// (the DTLS listener is bound early and asks it for PSKs); start binds it.
type devices struct {
	ingest  *lateIngester
	server  *coap.Server
	svc     *device.Service
	writer  *sqlstore.UplinkWriter
	spool   *sqlstore.Spool
	ls      *coapListeners
	log     *slog.Logger
	ioCtx   context.Context
	stopIO  context.CancelFunc
	stopW   context.CancelFunc
	ioDone  chan error
	wDone   chan struct{}
	started bool
	once    sync.Once
	serving atomic.Bool
}

// lateIngester lets the CoAP server exist before the device service does.
type lateIngester struct{ coap.Ingester }

func newDevices(log *slog.Logger) *devices {
	return &devices{ingest: &lateIngester{Ingester: notReady{}}, log: log.With("component", "coap")}
}

// notReady answers handshakes that arrive before start.
type notReady struct{ coap.Ingester }

func (notReady) PSK(context.Context, string) ([]byte, error) {
	return nil, errors.New("starting up")
}

// start opens the spool, builds the service and starts the writer (which
// first replays what an earlier run left in the spool).
func (d *devices) start(cfg config.Serve, ls *coapListeners, store *sqlstore.Store, live device.LiveLog, reg prometheus.Registerer) error {
	var err error
	if d.spool, err = sqlstore.OpenSpool(filepath.Join(cfg.DataDir, SpoolDir), sqlstore.SpoolOptions{Registerer: reg}); err != nil {
		return err
	}
	d.writer = store.NewUplinkWriter(sqlstore.UplinkWriterOptions{Spool: d.spool, Logger: d.log, Registerer: reg})
	d.svc = device.NewService(store.Devices(), domain.SystemClock{}, device.Options{
		Writer: d.writer, LiveLog: live, Log: d.log, Metrics: duplicates(reg),
		StuckAfter: uint32(cfg.ConfigStuckAfter),
	})
	d.ingest.Ingester = d.svc
	d.server = coap.New(coap.Options{Ingest: d.svc, Log: d.log, Registerer: reg})
	d.ls = ls
	wctx, stopW := context.WithCancel(context.Background())
	d.stopW, d.wDone = stopW, make(chan struct{})
	go func() { d.writer.Run(wctx); close(d.wDone) }()
	d.ioCtx, d.stopIO = context.WithCancel(context.Background())
	d.ioDone = make(chan error)
	d.started = true
	return nil
}

// serve answers CoAP and CoAPS until shutdown.
func (d *devices) serve() error {
	d.serving.Store(true)
	ctx := d.ioCtx
	errs := make(chan error, 2)
	go func() { errs <- d.server.ServeUDP(ctx, d.ls.udp) }()
	go func() { errs <- d.server.ServeDTLS(ctx, d.ls.dtls) }()
	err := errors.Join(<-errs, <-errs)
	close(d.ioDone)
	if ctx.Err() == nil && err == nil {
		err = errors.New("coap: servers stopped")
	}
	return err
}

// shutdown stops intake, lets in-flight uplinks finish (they are stored or
// spooled), then drains and stops the writer and closes the spool.
func (d *devices) shutdown() (err error) {
	if !d.started {
		return nil
	}
	d.once.Do(func() {
		d.stopIO()
		if d.serving.Load() {
			<-d.ioDone
		}
		d.ls.close()
		d.stopW()
		<-d.wDone
		err = d.spool.Close()
	})
	return err
}

type dupCounter struct{ c prometheus.Counter }

func (d dupCounter) Duplicate() { d.c.Inc() }

func duplicates(reg prometheus.Registerer) device.Metrics {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "liveplane_uplinks_duplicate_total",
		Help: "Uplinks whose (device, boot, uplink_count) was already taken: answered with the first reply, not stored again.",
	})
	reg.MustRegister(c)
	return dupCounter{c}
}
