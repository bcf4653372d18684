package events_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/drivers/events"
	"github.com/liveplane/liveplane/internal/eventcodec"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

// The streams are declared here, not taken from natsbus: a driver and its
// tests do not import driven adapters.
const (
	testStream = "TEST_EVENTS"
	dlqStream  = "TEST_DLQ"
)

type env struct {
	js  jetstream.JetStream
	reg *prometheus.Registry
	log *slog.Logger
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	for name, subj := range map[string]string{testStream: "liveplane.events.>", dlqStream: "liveplane.dlq.>"} {
		if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: name, Subjects: []string{subj}, Duplicates: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	return &env{js: js, reg: prometheus.NewRegistry(), log: slog.New(slog.NewTextHandler(t.Output(), nil))}
}

func (e *env) consumer(durable string) events.Consumer {
	return events.Consumer{Stream: testStream, Durable: durable, Logger: e.log, Registerer: e.reg,
		FilterSubjects: []string{"liveplane.events.account.>"}}
}

// publishEvent publishes an encoded account.created event, as the outbox
// relay would.
func (e *env) publishEvent(t *testing.T, id string) {
	t.Helper()
	ev := domain.Event{ID: id, Type: account.EventCreated, AggregateID: "acc-" + id, AggregateVersion: 1,
		Time: time.Now(), Data: account.Account{ID: "acc-" + id, Name: "n" + id}}
	b, err := eventcodec.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(t.Context(), ev.Subject(), b, jetstream.WithMsgID(id)); err != nil {
		t.Fatal(err)
	}
}

// run starts c and returns a stop func that cancels it and checks Run's result.
func (e *env) run(t *testing.T, c events.Consumer, h events.Handler) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, e.js, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil after cancel", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func (e *env) counter(t *testing.T, name, consumer string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && m.GetLabel()[0].GetValue() == consumer {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func (e *env) consumerInfo(t *testing.T, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := e.js.Consumer(t.Context(), testStream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (e *env) dlqMsgs(t *testing.T) uint64 {
	t.Helper()
	s, err := e.js.Stream(t.Context(), dlqStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorder is a handler that fails its first failures calls per event.
type recorder struct {
	mu       sync.Mutex
	failures int // -1: always fail
	calls    map[string][]time.Time
	events   []domain.Event
}

func (r *recorder) handle(_ context.Context, ev domain.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls == nil {
		r.calls = map[string][]time.Time{}
	}
	r.calls[ev.ID] = append(r.calls[ev.ID], time.Now())
	if r.failures < 0 || len(r.calls[ev.ID]) <= r.failures {
		return errors.New("boom\nsecond line")
	}
	r.events = append(r.events, ev)
	return nil
}

func (r *recorder) callTimes(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls[id]...)
}

func (r *recorder) handled() []domain.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]domain.Event(nil), r.events...)
}

func TestConsumerAcksAfterSuccess(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	e.run(t, e.consumer("ok"), rec.handle)
	for i := range 3 {
		e.publishEvent(t, fmt.Sprint("e", i))
	}
	waitFor(t, "3 events handled", func() bool { return len(rec.handled()) == 3 })
	for i, ev := range rec.handled() {
		a, ok := ev.Data.(account.Account)
		if ev.ID != fmt.Sprint("e", i) || !ok || a.ID != "acc-"+ev.ID {
			t.Fatalf("event %d = %+v, want decoded e%d in order", i, ev, i)
		}
	}
	waitFor(t, "acks confirmed", func() bool { return e.counter(t, "liveplane_events_handled_total", "ok") == 3 })
	info := e.consumerInfo(t, "ok")
	if info.AckFloor.Stream != 3 || info.NumAckPending != 0 {
		t.Fatalf("ack floor %d, ack pending %d; want 3 and 0", info.AckFloor.Stream, info.NumAckPending)
	}
}

func TestConsumerRetriesWithBackoff(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{failures: 2}
	c := e.consumer("retry")
	c.Backoff = []time.Duration{200 * time.Millisecond, 400 * time.Millisecond}
	e.run(t, c, rec.handle)
	e.publishEvent(t, "r1")
	waitFor(t, "success on the third delivery", func() bool { return len(rec.handled()) == 1 })

	calls := rec.callTimes("r1")
	if len(calls) != 3 {
		t.Fatalf("delivered %d times, want 3", len(calls))
	}
	// Roughly: the server may be a little early by its timer granularity.
	for i, want := range c.Backoff {
		if gap := calls[i+1].Sub(calls[i]); gap < want*8/10 {
			t.Errorf("retry %d after %s, want about %s", i+1, gap, want)
		}
	}
	waitFor(t, "ack", func() bool { return e.counter(t, "liveplane_events_handled_total", "retry") == 1 })
	if got := e.counter(t, "liveplane_events_failed_total", "retry"); got != 2 {
		t.Fatalf("failed_total = %v, want 2", got)
	}
	if n := e.dlqMsgs(t); n != 0 {
		t.Fatalf("%d dead letters, want none", n)
	}
}

func TestConsumerDeadLettersAfterMaxDeliver(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{failures: -1}
	c := e.consumer("doomed")
	c.MaxDeliver = 3
	c.Backoff = []time.Duration{10 * time.Millisecond}
	e.run(t, c, rec.handle)
	e.publishEvent(t, "d1")
	waitFor(t, "a dead letter", func() bool { return e.dlqMsgs(t) == 1 })

	s, _ := e.js.Stream(t.Context(), dlqStream)
	m, err := s.GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		events.HeaderSubject:   "liveplane.events.account.acc-d1.created",
		events.HeaderStream:    testStream,
		events.HeaderStreamSeq: "1",
		events.HeaderConsumer:  "doomed",
		events.HeaderError:     "boom second line",
		events.HeaderAttempts:  "3",
		events.HeaderMsgID:     "d1",
	}
	for k, v := range want {
		if got := m.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if m.Subject != "liveplane.dlq.doomed" || m.Header.Get(nats.MsgIdHdr) == "" {
		t.Errorf("dead letter on %s with Nats-Msg-Id %q", m.Subject, m.Header.Get(nats.MsgIdHdr))
	}
	if ev, err := eventcodec.Decode(m.Data); err != nil || ev.ID != "d1" {
		t.Errorf("dead letter body is not the original event: %v %v", ev, err)
	}
	waitFor(t, "dead_lettered counted", func() bool { return e.counter(t, "liveplane_events_dead_lettered_total", "doomed") == 1 })

	time.Sleep(200 * time.Millisecond) // terminated: no fourth delivery
	if n := len(rec.callTimes("d1")); n != 3 {
		t.Fatalf("handler called %d times, want MaxDeliver = 3", n)
	}
	if info := e.consumerInfo(t, "doomed"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Fatalf("consumer still holds the message: %+v", info)
	}
}

// A message whose deliveries all ended without a verdict (the process died
// mid-handler, or the handler outlived AckWait) is dead-lettered instead of
// being handed to the handler yet again: that breaks crash loops.
func TestConsumerDeadLettersAfterDeliveriesWithoutVerdict(t *testing.T) {
	e := newEnv(t)
	e.publishEvent(t, "c1")
	cons, err := e.js.CreateOrUpdateConsumer(t.Context(), testStream, jetstream.ConsumerConfig{
		Durable: "crashy", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // two "crashes": fetched, never acked
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for range batch.Messages() {
		}
	}
	rec := &recorder{}
	c := e.consumer("crashy")
	c.MaxDeliver, c.AckWait, c.FilterSubjects = 2, 100*time.Millisecond, nil
	e.run(t, c, rec.handle)
	waitFor(t, "a dead letter", func() bool { return e.dlqMsgs(t) == 1 })
	if n := len(rec.callTimes("c1")); n != 0 {
		t.Fatalf("handler called %d times, want 0", n)
	}
	s, _ := e.js.Stream(t.Context(), dlqStream)
	m, err := s.GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(events.HeaderAttempts) != "3" {
		t.Fatalf("dead letter headers = %v, want 3 attempts", m.Header)
	}
}

func TestConsumerPoisonGoesToDLQAtOnce(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	e.run(t, e.consumer("poison"), rec.handle)
	if _, err := e.js.Publish(t.Context(), "liveplane.events.account.x.created", []byte{0xff, 0x01, 0x02}); err != nil {
		t.Fatal(err)
	}
	e.publishEvent(t, "after") // the poison must not block what follows
	waitFor(t, "the next event handled", func() bool { return len(rec.handled()) == 1 })
	waitFor(t, "a dead letter", func() bool { return e.dlqMsgs(t) == 1 })
	s, _ := e.js.Stream(t.Context(), dlqStream)
	m, err := s.GetMsg(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(events.HeaderAttempts) != "1" || !strings.Contains(m.Header.Get(events.HeaderError), "poison") {
		t.Fatalf("poison dead letter headers = %v", m.Header)
	}
	if got := e.counter(t, "liveplane_events_dead_lettered_total", "poison"); got != 1 {
		t.Fatalf("dead_lettered_total = %v, want 1", got)
	}
}

func TestConsumerStopsOnCancelWithoutLeaks(t *testing.T) {
	e := newEnv(t)
	e.publishEvent(t, "warm") // starts the connection's request plumbing before counting
	before := len(natstest.ClientGoroutines())

	rec := &recorder{}
	stop := e.run(t, e.consumer("leak"), rec.handle)
	e.publishEvent(t, "l1")
	waitFor(t, "events handled", func() bool { return len(rec.handled()) == 2 })
	stop()

	natstest.WaitClientGoroutines(t, before, 3*time.Second)
}

// A subscription that ends while serve runs (here: the consumer deleted out
// of band; in the field also missed heartbeats after a NATS node left) is
// set up again: Run keeps handling events instead of returning, and the
// re-created consumer replays from the first event, which an idempotent
// handler absorbs.
func TestConsumerSubscribesAgainWhenItsSubscriptionEnds(t *testing.T) {
	e := newEnv(t)
	rec := &recorder{}
	e.run(t, e.consumer("again"), rec.handle)
	e.publishEvent(t, "before")
	waitFor(t, "the first event handled", func() bool { return len(rec.handled()) == 1 })
	if err := e.js.DeleteConsumer(t.Context(), testStream, "again"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new subscription", func() bool {
		return e.counter(t, "liveplane_events_resubscribed_total", "again") >= 1
	})
	e.publishEvent(t, "after")
	waitFor(t, "the event published after the deletion handled", func() bool {
		for _, ev := range rec.handled() {
			if ev.ID == "after" {
				return true
			}
		}
		return false
	})
	if info := e.consumerInfo(t, "again"); info.Config.Durable != "again" {
		t.Fatalf("consumer after re-creation: %+v", info.Config)
	}
}

func TestConsumerRequiresStreamAndDurable(t *testing.T) {
	err := events.Consumer{}.Run(t.Context(), nil, func(context.Context, domain.Event) error { return nil })
	if err == nil {
		t.Fatal("Run without Stream and Durable succeeded")
	}
}

// With Workers, events of different aggregates are handled side by side,
// and the events of one aggregate still one at a time, in stream order.
func TestConsumerWorkersKeepPerAggregateOrder(t *testing.T) {
	e := newEnv(t)
	const aggregates, perAggregate = 8, 5
	for i := range perAggregate {
		for a := range aggregates {
			ev := domain.Event{ID: fmt.Sprintf("e-%d-%d", a, i), Type: account.EventUpdated, AggregateID: fmt.Sprintf("acc%d", a),
				AggregateVersion: int64(i + 1), Time: time.Now(), Data: account.Account{ID: fmt.Sprintf("acc%d", a), Generation: int64(i + 1)}}
			b, err := eventcodec.Encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.js.Publish(t.Context(), ev.Subject(), b, jetstream.WithMsgID(ev.ID)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	seen := map[string][]int64{}
	busy := map[string]bool{}
	inFlight, most := 0, 0
	c := e.consumer("workers")
	c.Workers = 4
	c.Prefetch = 64
	e.run(t, c, func(_ context.Context, ev domain.Event) error {
		mu.Lock()
		if busy[ev.AggregateID] {
			mu.Unlock()
			return fmt.Errorf("two events of %s handled at once", ev.AggregateID)
		}
		busy[ev.AggregateID] = true
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		busy[ev.AggregateID] = false
		inFlight--
		seen[ev.AggregateID] = append(seen[ev.AggregateID], ev.AggregateVersion)
		mu.Unlock()
		return nil
	})
	waitFor(t, "all handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range seen {
			n += len(v)
		}
		return n == aggregates*perAggregate
	})
	mu.Lock()
	defer mu.Unlock()
	for agg, vs := range seen {
		for i, v := range vs {
			if v != int64(i+1) {
				t.Fatalf("%s handled out of order: %v", agg, vs)
			}
		}
	}
	if most < 2 {
		t.Fatalf("at most %d handled at once with 4 workers", most)
	}
}
