package natsbus

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// ConnectTimeout bounds the first connection to each server URL: a missing
// server must fail startup, not hang it.
const ConnectTimeout = 5 * time.Second

// Connect dials an external server or cluster (comma-separated URLs; a token
// or user:password may sit in the URL). The first connection must succeed
// within ConnectTimeout per URL; after that the connection reconnects
// forever, because callers (the publisher, consumers) retry on their own and
// only need the connection to come back. extra options come last (e.g.
// WithoutReconnectBuffer for the outbox relay's connection).
func Connect(ctx context.Context, serverURL, name string, logger *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("component", "nats", "conn", name)
	opts := append(connLogOptions(log),
		nats.Name(name),
		nats.Timeout(ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
	)
	opts = append(opts, extra...)
	type result struct {
		nc  *nats.Conn
		err error
	}
	// nats.Connect takes no context; dial aside so ctx can abandon it.
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(serverURL, opts...)
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connect to nats %s: %w", redactURLs(serverURL), r.err)
		}
		log.Info("connected to nats", "url", redactURLs(r.nc.ConnectedUrl()))
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("connect to nats %s: %w", redactURLs(serverURL), ctx.Err())
	}
}

// WithoutReconnectBuffer makes a connection fail publishes while it is
// down instead of keeping them for the reconnect. The outbox relay needs
// it (NewPublisher checks): at a disconnect, nats.go drops what was still in
// the socket's write buffer but sends what it kept during the outage as
// soon as it reconnects, so a relay retry of the dropped entries would put
// them behind later ones in the stream.
func WithoutReconnectBuffer() nats.Option { return nats.ReconnectBufSize(-1) }

// connLogOptions reports connection state changes: they explain why
// publishing stalls, and nothing else would say so.
func connLogOptions(log *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", redactURLs(nc.ConnectedUrl()))
		}),
		nats.ClosedHandler(func(*nats.Conn) { log.Debug("nats connection closed") }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"err", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			log.Warn("nats async error", attrs...)
		}),
	}
}

// redactURLs hides credentials, tokens included (nats.go's own redaction
// keeps a token that stands in the user part), so URLs can be logged.
func redactURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		u, err := url.Parse(parts[i])
		if err != nil || u.User == nil {
			continue
		}
		u.User = url.User("redacted")
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
