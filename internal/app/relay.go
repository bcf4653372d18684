package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/drivers/ops"
	"github.com/liveplane/liveplane/internal/drivers/relay"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
	"github.com/liveplane/liveplane/internal/livelogclient"
)

// Relay runs `liveplane relay` until ctx ends: the browser-facing edge of
// the live logs, in front of serve's /ws.
func Relay(ctx context.Context, cfg config.Relay, log *slog.Logger) error {
	if cfg.ServiceToken == "" {
		return errors.New("--service-token is required: one of serve's --relay-tokens")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", cfg.Listen, unwrapSyscall(err))
	}
	defer ln.Close()
	upstream := strings.TrimRight(cfg.Upstream, "/")

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hc := &http.Client{Timeout: 10 * time.Second}
	health := ops.New(reg, ops.Check{Name: "upstream", Fn: func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, upstream+"/healthz", nil)
		res, err := hc.Do(req)
		if err != nil {
			return errors.New("serve does not answer")
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("serve answers %d", res.StatusCode)
		}
		return nil
	}})
	auth := rpcAuthorizer{devices: liveplanev1connect.NewDeviceServiceClient(hc, upstream)}
	up := clientUpstream{url: upstream, token: cfg.ServiceToken,
		backoff: livelogclient.Backoff{Base: cfg.ReconnectMin, Max: cfg.ReconnectMax}}
	rl := relay.New(up, auth, log.With("component", "relay"), reg, relay.Options{Origins: cfg.AllowedOrigins, Linger: linger(cfg.Linger)})

	mux := http.NewServeMux()
	health.Mount(mux)
	rl.Handle(mux)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       rl.ConnContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	health.SetReady(true)
	log.Info("liveplane relay serving", "http", ln.Addr().String(), "upstream", upstream)
	g.Go(func() error {
		<-gctx.Done()
		health.SetReady(false)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		rl.Close() // browsers get 1001, upstreams close
		return err
	})
	err = g.Wait()
	log.Info("stopped")
	return err
}

// rpcAuthorizer asks serve whether the browser's key sees the device:
// GetDevice with that key. Another account's device answers not_found, so
// ids cannot be probed through the relay either.
type rpcAuthorizer struct {
	devices liveplanev1connect.DeviceServiceClient
}

var _ relay.Authorizer = rpcAuthorizer{}

func (a rpcAuthorizer) Authorize(ctx context.Context, cred relay.Credential, deviceID string) error {
	const op = "relay.Authorize"
	if cred.Bearer == "" {
		// The console's session cookie: its login is a later issue. Until
		// then a session is no credential.
		return domain.Errorf(domain.CodeUnauthenticated, op, "console sessions are not accepted yet: use an API key")
	}
	req := connect.NewRequest(&lpv1.GetDeviceRequest{Id: deviceID})
	req.Header().Set("Authorization", "Bearer "+cred.Bearer)
	_, err := a.devices.GetDevice(ctx, req)
	if err == nil {
		return nil
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnauthenticated:
		return domain.Errorf(domain.CodeUnauthenticated, op, "bad credential")
	case connect.CodePermissionDenied:
		return domain.Errorf(domain.CodePermissionDenied, op, "not allowed")
	case connect.CodeNotFound:
		return domain.Errorf(domain.CodeNotFound, op, "unknown device")
	case connect.CodeInvalidArgument:
		return domain.Errorf(domain.CodeNotFound, op, "unknown device")
	}
	return &domain.Error{Code: domain.CodeUnavailable, Op: op, Msg: "cannot ask serve", Err: err}
}

// clientUpstream follows devices on serve's /ws with the relay's service
// token through livelogclient.
type clientUpstream struct {
	url, token string
	backoff    livelogclient.Backoff
}

var _ relay.Upstream = clientUpstream{}

func (u clientUpstream) Follow(ctx context.Context, deviceID string, start relay.Start, fn func(relay.UpstreamEvent)) error {
	opts := livelogclient.Options{URL: u.url, DeviceID: deviceID, Token: u.token, Last: start.Last, Backoff: u.backoff}
	if start.Epoch != "" {
		opts.From = &livelogclient.Position{Epoch: start.Epoch, Seq: start.Seq}
	}
	c, err := livelogclient.New(opts)
	if err != nil {
		return err
	}
	return c.Run(ctx, func(ev livelogclient.Event) error {
		switch ev.Kind {
		case livelogclient.KindLine:
			l := ev.Line
			fn(relay.UpstreamEvent{Kind: relay.UpLine, Seq: l.Seq, Prev: l.Prev, Epoch: l.Epoch, Raw: l.Raw})
		case livelogclient.KindLive:
			h := ev.Hello
			e := relay.UpstreamEvent{Kind: relay.UpLive, Epoch: h.Epoch, LastSeq: h.LastSeq, Recovered: h.Recovered, Reason: h.Reason}
			if h.Gap != nil {
				e.AfterSeq, e.BeforeSeq = h.Gap.AfterSeq, h.Gap.BeforeSeq
			}
			fn(e)
		case livelogclient.KindGap:
			g := ev.Gap
			fn(relay.UpstreamEvent{Kind: relay.UpGap, Epoch: g.Epoch, Reason: g.Reason, AfterSeq: g.Span.AfterSeq, BeforeSeq: g.Span.BeforeSeq})
		case livelogclient.KindReconnecting:
			fn(relay.UpstreamEvent{Kind: relay.UpReconnecting, Attempt: ev.Attempt, Delay: ev.Delay, Err: ev.Err})
		}
		return nil
	})
}

// linger maps the setting (0 = none) to relay.Options (0 = default).
func linger(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
