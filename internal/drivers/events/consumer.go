// Package events drives domain event handlers from JetStream: a durable pull
// consumer per handler, ack after success, retries with backoff, and a
// dead-letter subject for events that keep failing or cannot be decoded.
// It knows JetStream and the event codec, never a driven adapter: streams
// are named by the caller.
package events

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/eventcodec"
)

// Handler applies one event. Delivery is at least once, so it must be
// idempotent (AggregateVersion tells a replay from news). An event of a type
// this binary does not know arrives with Data == nil; most handlers return
// nil for it. A non-nil error means "retry later".
type Handler func(ctx context.Context, ev domain.Event) error

// Consumer describes a durable consumer; zero values take the defaults.
type Consumer struct {
	Stream         string // required
	Durable        string // required; also the metrics' consumer label
	FilterSubjects []string
	// MaxDeliver is how many deliveries end in a handler error before the
	// event is dead-lettered; default 5.
	MaxDeliver int
	// Backoff[i] is the delay after the (i+1)th failure; the last value
	// repeats. Default 100ms, 500ms, 2s, 5s.
	Backoff []time.Duration
	// AckWait is how long the server waits for a verdict before it
	// redelivers; it is also the handler's deadline. Default 30s.
	AckWait time.Duration
	// Prefetch is how many messages are pulled ahead. Handlers run one at a
	// time per worker, so prefetched messages spend their AckWait queued;
	// default 16.
	Prefetch int
	// Workers handle events side by side; default 1. Events of one
	// aggregate (the subject up to its verb) always go to the same worker,
	// so they are handled in stream order.
	Workers           int
	DeadLetterSubject string // default "liveplane.dlq." + Durable
	Logger            *slog.Logger
	Registerer        prometheus.Registerer // nil: metrics kept but not exported
}

var defaultBackoff = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, 5 * time.Second}

// verdictTimeout bounds an ack or dead-letter publish. It is detached from
// the Run context so an event handled just before shutdown is still acked.
const verdictTimeout = 5 * time.Second

// Run creates or updates the durable consumer and feeds h one event at a
// time until ctx is cancelled, then stops pulling and returns nil. It
// returns an error only when the consumer cannot be set up at the start.
// Once running it never gives up: a subscription that ends (missed
// heartbeats after a NATS node or a consumer leader went away, the consumer
// deleted, the connection closed) is re-created with backoff. The consumer
// is durable, so nothing acked is seen again and nothing unacked is lost;
// a consumer deleted out of band starts again from the first event, which
// idempotent handlers absorb.
func (c Consumer) Run(ctx context.Context, js jetstream.JetStream, h Handler) error {
	if c.Stream == "" || c.Durable == "" || h == nil {
		return errors.New("events consumer: Stream, Durable and a handler are required")
	}
	c = c.withDefaults()
	m, err := newMetrics(c.Registerer, c.Durable)
	if err != nil {
		return fmt.Errorf("events consumer %s: %w", c.Durable, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.Stream, c.config())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("events consumer %s: create on stream %s: %w", c.Durable, c.Stream, err)
	}
	d := &dispatcher{c: c, js: js, h: h, m: m, log: c.Logger}
	handle, stop := d.workers(ctx)
	defer stop()
	c.Logger.Info("events consumer started", "stream", c.Stream, "filter", c.FilterSubjects, "workers", c.Workers)
	delay := time.Duration(0)
	for {
		got, err := c.pull(ctx, cons, handle)
		if ctx.Err() != nil {
			return nil
		}
		if got {
			delay = 0
		}
		delay = min(max(2*delay, resubscribeMin), resubscribeMax)
		m.resubscribed.Inc()
		c.Logger.Warn("events consumer subscription ended; subscribing again", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		// Create-or-update again: it brings back a consumer that was
		// deleted and binds to the current leader of one that moved.
		if next, err := js.CreateOrUpdateConsumer(ctx, c.Stream, c.config()); err == nil {
			cons = next
		} else if ctx.Err() == nil {
			c.Logger.Warn("events consumer: create on stream failed; will retry", "stream", c.Stream, "err", err)
		}
	}
}

// pullExpiry bounds each pull request's life. Replicas share a durable, and
// the server hands messages to the waiting pull requests in turn: those of a
// replica killed -9 keep taking messages (which then wait for AckWait) until
// they expire. With the library's 30 s, the scale-out rig saw the read model
// stall for 30 s after a kill; 5 s costs one small request per 5 s.
const pullExpiry = 5 * time.Second

// Bounds of the delay between two subscriptions after one ended.
const (
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 5 * time.Second
)

// pull reads one subscription until it ends or ctx is cancelled. It reports
// whether any message arrived, so the caller can tell a flapping
// subscription from one that ran well for a while.
func (c Consumer) pull(ctx context.Context, cons jetstream.Consumer, handle func(jetstream.Msg)) (bool, error) {
	iter, err := cons.Messages(jetstream.PullMaxMessages(c.Prefetch), jetstream.PullExpiry(pullExpiry))
	if err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	// Stop, not Drain: prefetched messages are not ours until handled, and
	// the server redelivers them after AckWait.
	defer iter.Stop()
	got := false
	for {
		// Every error ends this subscription, ErrNoHeartbeat included: the
		// iterator would re-pull on its own, but a pull parked on a
		// consumer leader that is gone only comes back through a fresh
		// lookup of the consumer.
		msg, err := iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			return got, fmt.Errorf("next message: %w", err)
		}
		got = true
		handle(msg)
	}
}

// workers returns the function that hands a message to its worker, and the
// function that stops the workers once the last message was handed over.
// Events of one aggregate always go to the same worker.
func (d *dispatcher) workers(ctx context.Context) (handle func(jetstream.Msg), stop func()) {
	if d.c.Workers == 1 {
		return func(msg jetstream.Msg) { d.handle(ctx, msg) }, func() {}
	}
	queues := make([]chan jetstream.Msg, d.c.Workers)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan jetstream.Msg, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range queues[i] {
				d.handle(ctx, msg)
			}
		}()
	}
	handle = func(msg jetstream.Msg) {
		select {
		case queues[aggregateHash(msg.Subject())%uint32(len(queues))] <- msg:
		case <-ctx.Done():
		}
	}
	stop = func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}
	return handle, stop
}

// aggregateHash hashes an event subject without its last token (the verb):
// liveplane.events.<kind>.<aggregate id>.
func aggregateHash(subject string) uint32 {
	if i := strings.LastIndexByte(subject, '.'); i > 0 {
		subject = subject[:i]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(subject))
	return h.Sum32()
}

func (c Consumer) withDefaults() Consumer {
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = 5
	}
	if len(c.Backoff) == 0 {
		c.Backoff = defaultBackoff
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 16
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.DeadLetterSubject == "" {
		c.DeadLetterSubject = "liveplane.dlq." + c.Durable
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "events", "consumer", c.Durable)
	return c
}

func (c Consumer) config() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		// Unlimited on the server: the dispatcher counts deliveries and
		// dead-letters, so an event is never left stranded in the stream
		// by a server-side limit that nobody watches.
		MaxDeliver: -1,
	}
	if len(c.FilterSubjects) == 1 {
		cfg.FilterSubject = c.FilterSubjects[0]
	} else {
		cfg.FilterSubjects = c.FilterSubjects
	}
	return cfg
}

type dispatcher struct {
	c   Consumer
	js  jetstream.JetStream
	h   Handler
	m   *metrics
	log *slog.Logger
}

func (d *dispatcher) handle(ctx context.Context, msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err != nil {
		// Cannot happen on a pull consumer; without metadata there is no
		// attempt count, so let AckWait bring it back.
		d.log.Error("message without JetStream metadata", "subject", msg.Subject(), "err", err)
		return
	}
	attempt := int(md.NumDelivered)
	log := d.log.With("subject", msg.Subject(), "stream_seq", md.Sequence.Stream, "attempt", attempt)
	if attempt > d.c.MaxDeliver {
		// Earlier deliveries ended without a verdict: a crash, a handler
		// past AckWait, or a dead-letter publish that failed.
		d.deadLetter(msg, md, log, fmt.Errorf("delivered %d times without success (max %d)", attempt, d.c.MaxDeliver))
		return
	}
	ev, err := eventcodec.Decode(msg.Data())
	if err != nil {
		d.m.failed.Inc()
		d.deadLetter(msg, md, log, fmt.Errorf("poison message: %w", err))
		return
	}
	herr := d.call(withStreamSeq(ctx, md.Sequence.Stream), ev, log)
	if herr == nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verdictTimeout)
		defer cancel()
		if err := msg.DoubleAck(actx); err != nil {
			log.Warn("ack not confirmed; the event will be redelivered", "event_id", ev.ID, "err", err)
			return
		}
		d.m.handled.Inc()
		return
	}
	if ctx.Err() != nil {
		// Shutting down: hand it back now rather than count a failure the
		// event did not cause.
		_ = msg.Nak()
		return
	}
	d.m.failed.Inc()
	if attempt >= d.c.MaxDeliver {
		d.deadLetter(msg, md, log, herr)
		return
	}
	delay := d.c.Backoff[min(attempt-1, len(d.c.Backoff)-1)]
	log.Warn("event handler failed; will retry", "event_id", ev.ID, "err", herr, "retry_in", delay)
	if err := msg.NakWithDelay(delay); err != nil {
		log.Warn("nak failed; the server redelivers after AckWait", "err", err)
	}
}

// call runs the handler with AckWait as its deadline, so a handler that
// honours ctx gives up before the server redelivers behind its back. A
// panic fails this delivery instead of the process.
func (d *dispatcher) call(ctx context.Context, ev domain.Event, log *slog.Logger) (err error) {
	hctx, cancel := context.WithTimeout(ctx, d.c.AckWait)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			log.Error("event handler panicked", "event_id", ev.ID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return d.h(hctx, ev)
}
