package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/driven/push"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/pickupgw"
)

// pickupGateway is serve's message pickup repository: the domain service,
// its WebSocket gateway, the bus route to other instances, push senders.
type pickupGateway struct {
	ln      net.Listener
	svc     *pickup.Service
	gw      *pickupgw.Server
	hs      *http.Server
	sub     *nats.Subscription
	stopRun context.CancelFunc
	runDone chan error
}

// listenPickup binds --pickup early, with the other listeners, so a port in
// use fails before anything is written. nil when the gateway is off.
func listenPickup(cfg config.Serve) (net.Listener, error) {
	if cfg.Pickup.Addr == "off" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", cfg.Pickup.Addr)
	if err != nil {
		return nil, fmt.Errorf("--pickup %s: %w", cfg.Pickup.Addr, unwrapSyscall(err))
	}
	return ln, nil
}

func startPickup(ctx context.Context, cfg config.Serve, ln net.Listener, store *sqlstore.Store, nc *nats.Conn,
	accounts *account.Service, reg prometheus.Registerer, log *slog.Logger) (*pickupGateway, error) {
	if ln == nil {
		return nil, nil
	}
	log = log.With("component", "pickup")
	m := newPickupMetrics(reg)
	pc := cfg.Pickup
	sender, err := pushSender(pc)
	if err != nil {
		return nil, err
	}
	hub := pickupgw.NewHub(func(reason string) { m.dropped.WithLabelValues(reason).Inc() })
	instance := domain.NewID()
	router := &pickupRouter{self: instance, hub: hub, nc: nc, log: log}
	workers := 1
	if store.Engine() == "postgres" {
		workers = 4 // PostgreSQL commits batches side by side
	}
	svc := pickup.NewService(store.Pickup(), router, sender, domain.SystemClock{}, log, pickup.Options{
		Instance: instance, MaxMessageBytes: int(pc.MaxMessageBytes),
		Limits: pickup.Limits{MaxMessages: pc.MaxQueue, MaxBytes: pc.MaxQueueBytes},
		TTL:    pc.TTL, AckTimeout: pc.AckTimeout, TakeoverGrace: pc.TakeoverGrace, PushWindow: pc.PushWindow,
		BatchWorkers: workers, Observer: m.observer(),
	})
	if err := svc.Start(ctx); err != nil {
		svc.Close()
		return nil, fmt.Errorf("pickup: %w", err)
	}
	p := &pickupGateway{ln: ln, svc: svc, runDone: make(chan error, 1)}
	if p.sub, err = router.subscribe(); err != nil {
		svc.Close()
		return nil, fmt.Errorf("pickup: subscribe: %w", err)
	}
	var auth pickupgw.Authenticator = accounts
	p.gw = pickupgw.New(svc, hub, pickupgw.Options{
		Auth: auth, Open: pc.Auth == "open", MaxMessageBytes: int(pc.MaxMessageBytes),
		RateLimit: float64(pc.RateLimit), Logger: log,
	})
	p.hs = &http.Server{Handler: p.gw, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	p.stopRun = stop
	go func() { p.runDone <- svc.Run(runCtx) }()
	m.sockets(hub)
	return p, nil
}

// serve answers sockets until shutdown.
func (p *pickupGateway) serve() error {
	if err := p.hs.Serve(p.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("pickup gateway: %w", err)
	}
	return nil
}

// shutdown stops intake, lets sockets finish their calls and closes them,
// commits the adds still queued, then stops the sweeps and leaves the
// store (this instance's leases stop counting at once).
func (p *pickupGateway) shutdown(ctx context.Context) error {
	err := p.hs.Shutdown(ctx)
	err = errors.Join(err, p.gw.Shutdown(ctx))
	p.svc.Close()
	if p.sub != nil {
		_ = p.sub.Unsubscribe()
	}
	p.stopRun()
	return errors.Join(err, <-p.runDone)
}

func pushSender(pc config.Pickup) (*push.Sender, error) {
	s := &push.Sender{}
	var err error
	if pc.FCMCredentials != "" {
		if s.FCM, err = push.NewFCM(push.FCMOptions{CredentialsFile: pc.FCMCredentials, Endpoint: pc.FCMEndpoint}); err != nil {
			return nil, fmt.Errorf("--push-fcm-credentials: %w", err)
		}
	}
	if pc.APNsKey != "" {
		if s.APNs, err = push.NewAPNs(push.APNsOptions{KeyFile: pc.APNsKey, KeyID: pc.APNsKeyID, TeamID: pc.APNsTeamID,
			Topic: pc.APNsTopic, Endpoint: pc.APNsEndpoint}); err != nil {
			return nil, fmt.Errorf("--push-apns-key: %w", err)
		}
	}
	if len(pc.WebhookAllow) > 0 {
		s.Webhook = push.NewWebhook(pc.WebhookAllowed)
	}
	return s, nil
}
