package natsbus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

// memOutbox is the Outbox contract on a slice: the SQL outbox is tested by
// its own package; this one only has to behave like it.
type memOutbox struct {
	mu        sync.Mutex
	entries   []domain.OutboxEntry
	published map[int64]bool
	reads     int
}

var _ natsbus.Outbox = (*memOutbox)(nil)

func (o *memOutbox) add(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for range n {
		seq := int64(len(o.entries) + 1)
		o.entries = append(o.entries, domain.OutboxEntry{
			Seq:     seq,
			ID:      fmt.Sprintf("evt-%04d", seq),
			Subject: fmt.Sprintf("liveplane.events.account.acc%d.created", seq%3),
			Data:    fmt.Appendf(nil, "payload %d", seq),
		})
	}
}

func (o *memOutbox) PendingOutbox(ctx context.Context, limit int) ([]domain.OutboxEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	var out []domain.OutboxEntry
	for _, e := range o.entries {
		if !o.published[e.Seq] && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (o *memOutbox) MarkPublished(ctx context.Context, seqs []int64) error {
	// A cancelled ctx fails like a SQL transaction would: that is the crash.
	if err := ctx.Err(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.published == nil {
		o.published = map[int64]bool{}
	}
	for _, s := range seqs {
		o.published[s] = true
	}
	return nil
}

func (o *memOutbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries) - len(o.published)
}

func (o *memOutbox) readCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reads
}

func connectJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := natsbus.Connect(t.Context(), url, t.Name(), testLogger(t), natsbus.WithoutReconnectBuffer())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := natsbus.EnsureStreams(t.Context(), js); err != nil {
		t.Fatal(err)
	}
	return js
}

// runPublisher starts p and returns a stop func that cancels it and checks
// that Run returned nil.
func runPublisher(t *testing.T, p *natsbus.Publisher) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil on cancel", err)
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// streamIDs returns the Nats-Msg-Id of every event in the stream, in order.
func streamIDs(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	s, err := js.Stream(t.Context(), natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(nats.MsgIdHdr))
	}
	return ids
}

func wantIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("evt-%04d", i+1)
	}
	return ids
}

func TestPublisherPublishesInOrderWithMsgID(t *testing.T) {
	url, _ := natstest.Start(t)
	js := connectJS(t, url)
	box := &memOutbox{}
	box.add(250) // three batches of 100: the relay must loop while batches are full
	reg := prometheus.NewRegistry()
	p, err := natsbus.NewPublisher(box, js, natsbus.PublisherOptions{Batch: 100, PollInterval: time.Hour, Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p)
	defer stop()
	waitFor(t, 10*time.Second, "250 entries published", func() bool { return box.pending() == 0 })

	// A commit wakes the relay long before the hour-long poll.
	box.add(5)
	p.Notify()
	waitFor(t, 5*time.Second, "notified entries published", func() bool { return box.pending() == 0 })

	if got := streamIDs(t, js); !slices.Equal(got, wantIDs(255)) {
		t.Fatalf("stream holds %d events, want evt-0001..evt-0255 in order; got %v", len(got), got)
	}
	s, _ := js.Stream(t.Context(), natsbus.EventsStream)
	m, err := s.GetMsg(t.Context(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "liveplane.events.account.acc1.created" || string(m.Data) != "payload 7" {
		t.Fatalf("message 7 = %s %q", m.Subject, m.Data)
	}
	if got := metricSum(t, reg, "liveplane_outbox_published_total"); got != 255 {
		t.Fatalf("published_total = %v, want 255", got)
	}
}

func TestPublisherCrashBeforeMarkRepublishesOnce(t *testing.T) {
	url, _ := natstest.Start(t)
	js := connectJS(t, url)
	box := &memOutbox{}
	box.add(10)

	// Crash: JetStream acked the batch, the process dies before the outbox
	// learns it. The failpoint cancels Run's context, so MarkPublished fails.
	crashCtx, crash := context.WithCancel(t.Context())
	var hookSeqs []int64
	p1, err := natsbus.NewPublisher(box, js, natsbus.PublisherOptions{
		Logger:       testLogger(t),
		AfterPublish: func(seqs []int64) { hookSeqs = slices.Clone(seqs); crash() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Run(crashCtx); err != nil {
		t.Fatalf("Run after crash = %v", err)
	}
	if len(hookSeqs) != 10 || box.pending() != 10 {
		t.Fatalf("hook saw %v; outbox pending = %d, want all 10 still pending", hookSeqs, box.pending())
	}
	if got := streamIDs(t, js); len(got) != 10 {
		t.Fatalf("stream holds %d events after the crash, want 10", len(got))
	}

	// The restarted relay publishes the same ten again, plus new ones.
	box.add(5)
	p2, err := natsbus.NewPublisher(box, js, natsbus.PublisherOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p2)
	defer stop()
	waitFor(t, 10*time.Second, "outbox drained", func() bool { return box.pending() == 0 })
	if got := streamIDs(t, js); !slices.Equal(got, wantIDs(15)) {
		t.Fatalf("stream = %v, want each of evt-0001..evt-0015 exactly once", got)
	}
}

func TestPublisherSurvivesNATSOutage(t *testing.T) {
	opts := natstest.Options(t)
	srv := natstest.Run(t, opts)
	js := connectJS(t, srv.ClientURL())
	box := &memOutbox{}
	box.add(5)
	reg := prometheus.NewRegistry()
	p, err := natsbus.NewPublisher(box, js, natsbus.PublisherOptions{PollInterval: 50 * time.Millisecond, Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p)
	defer stop()
	waitFor(t, 5*time.Second, "first entries published", func() bool { return box.pending() == 0 })

	readsBefore := box.readCount()
	natstest.Restart(t, srv, opts, func() {
		box.add(5) // committed while the bus is down
		p.Notify()
		time.Sleep(time.Second)
	})
	// Backoff from 100ms doubling: about four attempts in the second the
	// bus was down. A busy loop would make thousands.
	if reads := box.readCount() - readsBefore; reads > 15 {
		t.Fatalf("%d outbox reads while NATS was down: busy loop", reads)
	}
	waitFor(t, 15*time.Second, "entries committed during the outage published", func() bool { return box.pending() == 0 })
	if got := streamIDs(t, js); !slices.Equal(got, wantIDs(10)) {
		t.Fatalf("stream = %v, want evt-0001..evt-0010 once each", got)
	}
	if errs := metricSum(t, reg, "liveplane_outbox_publish_errors_total"); errs == 0 {
		t.Fatal("publish_errors_total did not count the outage")
	}
}

// Entries committed at a steady rate while the bus goes down and comes
// back three times reach the stream once each and in outbox order: a
// disconnect in the middle of a pipelined batch must not let later entries
// overtake the ones lost with the socket.
func TestPublisherKeepsOrderAcrossDisconnects(t *testing.T) {
	opts := natstest.Options(t)
	srv := natstest.Run(t, opts)
	js := connectJS(t, srv.ClientURL())
	box := &memOutbox{}
	p, err := natsbus.NewPublisher(box, js, natsbus.PublisherOptions{PollInterval: 20 * time.Millisecond,
		AckTimeout: time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPublisher(t, p)
	defer stop()
	adding := make(chan struct{})
	added := make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-adding:
				added <- n
				return
			case <-tick.C:
				box.add(10)
				n += 10
				p.Notify()
			}
		}
	}()
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		srv = natstest.Restart(t, srv, opts, func() { time.Sleep(50 * time.Millisecond) })
	}
	time.Sleep(150 * time.Millisecond)
	close(adding)
	total := <-added
	waitFor(t, 30*time.Second, "every entry published", func() bool { return box.pending() == 0 })
	got := streamIDs(t, js)
	if want := wantIDs(total); !slices.Equal(got, want) {
		first := 0
		for first < len(got) && first < len(want) && got[first] == want[first] {
			first++
		}
		t.Fatalf("stream holds %d entries for %d committed, in order up to position %d (%v...)",
			len(got), total, first, got[first:min(len(got), first+5)])
	}
}

// metricSum reads a metric from reg, summed over its labels.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
