package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
)

// Outbox is what the relay needs from the store. Entries are written in the
// same transaction as the state they describe.
type Outbox interface {
	// PendingOutbox returns up to limit unpublished entries, oldest first by
	// Seq. It may return entries another replica is publishing at the same
	// time: JetStream dedupes by entry ID, so that costs traffic, not
	// correctness.
	PendingOutbox(ctx context.Context, limit int) ([]domain.OutboxEntry, error)
	// MarkPublished records that JetStream holds these entries. Marking an
	// entry twice, or one already removed, is not an error.
	MarkPublished(ctx context.Context, seqs []int64) error
}

// PublisherOptions tunes a Publisher; zero values take the defaults.
type PublisherOptions struct {
	Batch        int           // entries per round; default 100
	PollInterval time.Duration // wake-up without Notify (other replicas, restarts); default 1s
	// AckTimeout bounds the wait for a batch's acks; default 5s. Create js
	// with jetstream.WithPublishAsyncTimeout too, so nats.go forgets the
	// futures of acks that never come.
	AckTimeout time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
	// AfterPublish runs after JetStream acknowledged seqs and before they are
	// marked published: a failpoint for crash tests. Nil in production.
	AfterPublish func(seqs []int64)
}

const (
	stageRead    = "read"
	stagePublish = "publish"
	stageMark    = "mark"

	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

var errNotConnected = errors.New("nats connection is not connected")

// Publisher relays the transactional outbox to JetStream: at least once,
// deduplicated by JetStream on the entry ID (Nats-Msg-Id) within
// DuplicateWindow, in Seq order, including across a lost connection (its
// connection keeps no reconnect buffer, so nothing published after a lost
// entry reaches the stream before the entry's retry). One caveat on order:
// publishes within a batch are pipelined, so if JetStream refuses one while
// it stores later ones (a stream error, not a lost connection), the later
// ones are stored first and the refused one after its retry. Consumers
// that care order by AggregateVersion.
type Publisher struct {
	outbox       Outbox
	js           jetstream.JetStream
	batch        int
	poll         time.Duration
	ackTimeout   time.Duration
	log          *slog.Logger
	metrics      *publisherMetrics
	afterPublish func([]int64)
	notify       chan struct{}
}

// NewPublisher builds a relay on js, whose connection must be made with
// WithoutReconnectBuffer; start it with Run. It fails when the connection
// buffers or its metrics cannot be registered.
func NewPublisher(outbox Outbox, js jetstream.JetStream, o PublisherOptions) (*Publisher, error) {
	if js.Conn().Opts.ReconnectBufSize >= 0 {
		return nil, errors.New("new outbox publisher: its nats connection keeps a reconnect buffer, which can reorder the events stream after a disconnect; connect with natsbus.WithoutReconnectBuffer()")
	}
	m, err := newPublisherMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("new outbox publisher: %w", err)
	}
	p := &Publisher{
		outbox: outbox, js: js, batch: o.Batch, poll: o.PollInterval, ackTimeout: o.AckTimeout,
		log: o.Logger, metrics: m, afterPublish: o.AfterPublish, notify: make(chan struct{}, 1),
	}
	if p.batch <= 0 {
		p.batch = 100
	}
	if p.poll <= 0 {
		p.poll = time.Second
	}
	if p.ackTimeout <= 0 {
		p.ackTimeout = 5 * time.Second
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("component", "outbox-publisher")
	return p, nil
}

// Notify wakes the relay; the store calls it after each commit that wrote
// to the outbox. It never blocks: wake-ups coalesce.
func (p *Publisher) Notify() {
	select {
	case p.notify <- struct{}{}:
	default:
	}
}

// Run relays until ctx is cancelled, then returns nil. Failures are retried
// from the first unpublished entry with exponential backoff; nothing is
// skipped, so an entry JetStream keeps rejecting stops the relay (the
// publish_errors metric and the log say so) until someone fixes it.
func (p *Publisher) Run(ctx context.Context) error {
	failures := 0
	for {
		n, err := p.relay(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			failures++
			delay := backoff(failures)
			// Log the outage once, and its end; the retries in between
			// are visible in the metric.
			if failures == 1 {
				p.log.Warn("outbox relay failed; retrying until it succeeds", "err", err)
			} else {
				p.log.Debug("outbox relay failed again", "err", err, "attempt", failures, "retry_in", delay)
			}
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		}
		if failures > 0 {
			p.log.Info("outbox relay recovered", "failed_attempts", failures)
			failures = 0
		}
		if n == p.batch {
			continue // a full batch: there is probably more
		}
		if !p.wait(ctx) {
			return nil
		}
	}
}

// relay publishes one batch and returns how many entries it read. Entries
// acked before a failure are still marked, so the retry starts after them.
func (p *Publisher) relay(ctx context.Context) (int, error) {
	entries, err := p.outbox.PendingOutbox(ctx, p.batch)
	if err != nil {
		p.metrics.errors.WithLabelValues(stageRead).Inc()
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	p.metrics.pending.Set(float64(len(entries)))
	if len(entries) == 0 {
		return 0, nil
	}
	acked, pubErr := p.publish(ctx, entries)
	if pubErr != nil {
		p.metrics.errors.WithLabelValues(stagePublish).Inc()
	}
	if len(acked) > 0 {
		if p.afterPublish != nil {
			p.afterPublish(acked)
		}
		if err := p.outbox.MarkPublished(ctx, acked); err != nil {
			p.metrics.errors.WithLabelValues(stageMark).Inc()
			return 0, errors.Join(pubErr, fmt.Errorf("mark %d outbox entries published: %w", len(acked), err))
		}
		p.metrics.published.Add(float64(len(acked)))
	}
	return len(entries), pubErr
}

// publish sends entries pipelined and returns the seqs of the longest
// prefix JetStream acknowledged.
func (p *Publisher) publish(ctx context.Context, entries []domain.OutboxEntry) ([]int64, error) {
	// While disconnected, nats.go would buffer the publishes for the
	// reconnect and the acks would time out; failing at once keeps that
	// buffer for others and the backoff honest.
	if !p.js.Conn().IsConnected() {
		return nil, fmt.Errorf("publish outbox: %w", errNotConnected)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(entries))
	var sendErr error
	for _, e := range entries {
		msg := &nats.Msg{Subject: e.Subject, Data: e.Data, Header: nats.Header{}}
		f, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(e.ID), jetstream.WithExpectStream(EventsStream))
		if err != nil {
			sendErr = fmt.Errorf("publish outbox entry seq %d (%s): %w", e.Seq, e.Subject, err)
			break
		}
		futures = append(futures, f)
	}

	timeout := time.NewTimer(p.ackTimeout)
	defer timeout.Stop()
	acked := make([]int64, 0, len(futures))
	for i, f := range futures {
		e := entries[i]
		select {
		case <-f.Ok():
			acked = append(acked, e.Seq)
			continue
		case err := <-f.Err():
			return acked, fmt.Errorf("publish outbox entry seq %d (%s): %w", e.Seq, e.Subject, err)
		case <-timeout.C:
			return acked, fmt.Errorf("publish outbox entry seq %d (%s): no ack within %s", e.Seq, e.Subject, p.ackTimeout)
		case <-ctx.Done():
			return acked, fmt.Errorf("publish outbox: %w", ctx.Err())
		}
	}
	return acked, sendErr
}

func (p *Publisher) wait(ctx context.Context) bool {
	t := time.NewTimer(p.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-p.notify:
	case <-t.C:
	}
	return true
}

func backoff(failures int) time.Duration {
	d := minBackoff
	for i := 1; i < failures && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
