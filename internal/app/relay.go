package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	auth := rpcAuthorizer{devices: liveplanev1connect.NewDeviceServiceClient(hc, upstream),
		tickets: ticketVerifier{hc: hc, url: upstream + "/console/tickets/verify", token: cfg.ServiceToken}}
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
// Console tickets are serve's to read: the relay hands them back to it.
type rpcAuthorizer struct {
	devices liveplanev1connect.DeviceServiceClient
	tickets ticketVerifier
}

var _ relay.Authorizer = rpcAuthorizer{}

func (a rpcAuthorizer) Authorize(ctx context.Context, cred relay.Credential, deviceID string) error {
	const op = "relay.Authorize"
	if cred.Ticket != "" {
		return a.tickets.verify(ctx, cred.Ticket, deviceID)
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

// ticketVerifier asks serve's console whether a ticket lets its browser
// watch a device (POST /console/tickets/verify with the service token).
type ticketVerifier struct {
	hc         *http.Client
	url, token string
}

func (v ticketVerifier) verify(ctx context.Context, ticket, deviceID string) error {
	const op = "relay.Authorize"
	body, _ := json.Marshal(map[string]string{"ticket": ticket, "deviceId": deviceID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, bytes.NewReader(body))
	if err != nil {
		return &domain.Error{Code: domain.CodeUnavailable, Op: op, Msg: "cannot ask serve", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+v.token)
	res, err := v.hc.Do(req)
	if err != nil {
		return &domain.Error{Code: domain.CodeUnavailable, Op: op, Msg: "cannot ask serve", Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4<<10))
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusUnauthorized, http.StatusBadRequest:
		return domain.Errorf(domain.CodeUnauthenticated, op, "bad, expired or used console ticket")
	case http.StatusNotFound:
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			// Not the console's answer: serve has no ticket endpoint (no --relay-tokens).
			return domain.Errorf(domain.CodeUnavailable, op, "serve does not verify console tickets (is it run with --relay-tokens?)")
		}
		return domain.Errorf(domain.CodeNotFound, op, "unknown device")
	case http.StatusForbidden:
		return domain.Errorf(domain.CodeUnavailable, op, "serve refuses this relay's service token for console tickets")
	}
	return domain.Errorf(domain.CodeUnavailable, op, "serve answers %d to a ticket check", res.StatusCode)
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
