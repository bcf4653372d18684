package natsbus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain/device"
	"github.com/liveplane/liveplane/internal/domain/livelog"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
	"github.com/liveplane/liveplane/internal/testinfra/promtest"
)

var testWindow = natsbus.LiveLogWindow{Lines: 50, Age: time.Hour, MaxBytes: 8 << 20}

// liveLogSetup returns a window and a publisher on their own connection.
func liveLogSetup(t *testing.T, url string) (*natsbus.LiveWindow, *natsbus.LiveLog) {
	t.Helper()
	return liveLogSetupWindow(t, url, testWindow)
}

func liveLogSetupWindow(t *testing.T, url string, window natsbus.LiveLogWindow) (*natsbus.LiveWindow, *natsbus.LiveLog) {
	t.Helper()
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := natsbus.NewLiveWindow(ctx, js, window, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := natsbus.NewLiveLog(js, natsbus.LiveLogOptions{Ensure: w.Ensure})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return w, l
}

func line(dev string, n int) device.Line {
	return device.Line{DeviceID: dev, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Type: "uplink",
		Message: fmt.Sprintf("Received uplink #%d", n), Data: map[string]any{"uplinkCount": n}}
}

// waitLast waits until the device's newest line is the n-th of total.
func waitCount(t *testing.T, w *natsbus.LiveWindow, dev string, n int) []livelog.Entry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, lines, err := livelog.Open(context.Background(), w, dev, livelog.Request{Last: livelog.MaxHistory})
		if err != nil {
			t.Fatal(err)
		}
		if len(lines) >= n || time.Now().After(deadline) {
			if len(lines) != n {
				t.Fatalf("%s has %d lines, want %d", dev, len(lines), n)
			}
			return lines
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLiveLogStoresPerDeviceWithSeqAndPrev(t *testing.T) {
	url, _ := natstest.Start(t)
	w, l := liveLogSetup(t, url)
	nc, _ := nats.Connect(url)
	defer nc.Close()
	sub, err := nc.SubscribeSync(natsbus.LiveLogSubjectPrefix + "dev-a")
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	for i := 1; i <= 3; i++ {
		l.Publish("dev-a", line("dev-a", i))
		l.Publish("dev-b", line("dev-b", i))
	}
	a := waitCount(t, w, "dev-a", 3)
	waitCount(t, w, "dev-b", 3)
	if a[0].Prev != 0 || a[1].Prev != a[0].Seq || a[2].Prev != a[1].Seq || a[1].Seq <= a[0].Seq {
		t.Fatalf("seq/prev chain broken: %+v", a)
	}
	var got map[string]any
	if err := json.Unmarshal(a[2].Body, &got); err != nil {
		t.Fatal(err)
	}
	if got["deviceId"] != "dev-a" || got["message"] != "Received uplink #3" || got["timestamp"] != "2026-01-02T03:04:05Z" {
		t.Fatalf("body = %s", a[2].Body)
	}
	// Core NATS subscribers still see each line on the device's subject.
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil || msg.Header.Get(natsbus.PrevHeader) != "0" {
		t.Fatalf("core subscriber: %v %v", msg, err)
	}
}

// Two publishers (two replicas) storing lines of one device at once: every
// line is stored and the prev chain has no hole and no fork.
func TestLiveLogPrevExactWithConcurrentPublishers(t *testing.T) {
	url, _ := natstest.Start(t)
	w, l1 := liveLogSetup(t, url)
	_, l2 := liveLogSetup(t, url)
	const each = 40 // < testWindow.Lines / 2 + ... keep all retained
	var wg sync.WaitGroup
	for _, l := range []*natsbus.LiveLog{l1, l2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				l.Publish("hot", line("hot", i))
				if i%4 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	lines := waitCount(t, w, "hot", min(2*each, int(testWindow.Lines)))
	for i := 1; i < len(lines); i++ {
		if lines[i].Prev != lines[i-1].Seq {
			t.Fatalf("line %d: prev %d, previous seq %d", i, lines[i].Prev, lines[i-1].Seq)
		}
	}
	// Walk forward from the first retained line: the same chain.
	e, ok, err := w.Next(context.Background(), "hot", 0)
	if err != nil || !ok || e.Seq != lines[0].Seq {
		t.Fatalf("Next(0) = %+v %v %v", e, ok, err)
	}
}

func TestLiveLogResume(t *testing.T) {
	url, _ := natstest.Start(t)
	w, l := liveLogSetup(t, url)
	ctx := context.Background()
	for i := range 10 {
		l.Publish("d", line("d", i))
	}
	lines := waitCount(t, w, "d", 10)
	epoch := lines[0].Epoch

	// Resume from the 4th line: lines 5..10, recovered.
	h, got, err := livelog.Open(ctx, w, "d", livelog.Request{Resume: true, Seq: lines[3].Seq, Epoch: epoch})
	if err != nil || !h.Recovered || len(got) != 6 || got[0].Seq != lines[4].Seq || h.LastSeq != lines[3].Seq {
		t.Fatalf("resume: %+v %d lines, err %v", h, len(got), err)
	}
	// Resume from the newest: nothing missed.
	h, got, err = livelog.Open(ctx, w, "d", livelog.Request{Resume: true, Seq: lines[9].Seq, Epoch: epoch})
	if err != nil || !h.Recovered || len(got) != 0 || h.LastSeq != lines[9].Seq {
		t.Fatalf("resume at head: %+v %d lines, err %v", h, len(got), err)
	}
	// last=3
	h, got, err = livelog.Open(ctx, w, "d", livelog.Request{Last: 3})
	if err != nil || len(got) != 3 || got[2].Seq != lines[9].Seq || h.LastSeq != lines[6].Seq {
		t.Fatalf("last=3: %+v %v", h, got)
	}

	// 60 more lines push the first 20 out of the 50-line window: resuming
	// from the 4th is a gap, stated.
	for i := 10; i < 70; i++ {
		l.Publish("d", line("d", i))
	}
	all := waitCount(t, w, "d", 50)
	h, got, err = livelog.Open(ctx, w, "d", livelog.Request{Resume: true, Seq: lines[3].Seq, Epoch: epoch})
	if err != nil || h.Recovered || h.Reason != livelog.ReasonWindow || h.Gap == nil ||
		h.Gap.AfterSeq != lines[3].Seq || h.Gap.BeforeSeq != all[0].Seq || len(got) != 50 {
		t.Fatalf("gap: %+v gap=%+v %d lines, err %v", h, h.Gap, len(got), err)
	}
	// A wrong epoch: every retained line, not recovered.
	h, got, err = livelog.Open(ctx, w, "d", livelog.Request{Resume: true, Seq: 5, Epoch: "other"})
	if err != nil || h.Recovered || h.Reason != livelog.ReasonEpoch || len(got) != 50 || h.Epoch != epoch {
		t.Fatalf("epoch: %+v %d lines, err %v", h, len(got), err)
	}
}

// Across a server restart: the default window is on the file store, so its
// lines and its epoch stay, a client resumes without a gap and the device's
// chain goes on from the line before; a memory window is gone, the stream
// comes back with a new epoch and a resume with the old one says so.
func TestLiveLogAcrossServerRestart(t *testing.T) {
	for _, storage := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
		t.Run(storage.String(), func(t *testing.T) {
			opts := natstest.Options(t)
			srv := natstest.Run(t, opts)
			window := testWindow
			window.Storage = storage
			w, l := liveLogSetupWindow(t, srv.ClientURL(), window)
			l.Publish("d", line("d", 1))
			before := waitCount(t, w, "d", 1)[0]
			natstest.Restart(t, srv, opts, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// The publisher reconnects (and recreates a memory stream); a
			// line published while it is down is dropped.
			deadline := time.Now().Add(10 * time.Second)
			for {
				l.Publish("d", line("d", 2))
				if e, ok, _ := w.Last(ctx, "d"); ok && (e.Seq != before.Seq || e.Epoch != before.Epoch) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no line stored after the restart")
				}
				time.Sleep(100 * time.Millisecond)
			}
			h, got, err := livelog.Open(ctx, w, "d", livelog.Request{Resume: true, Seq: before.Seq, Epoch: before.Epoch})
			if storage == jetstream.MemoryStorage {
				if err != nil || h.Recovered || h.Reason != livelog.ReasonEpoch {
					t.Fatalf("after restart: %+v %v", h, err)
				}
				return
			}
			if err != nil || !h.Recovered || h.Epoch != before.Epoch || len(got) == 0 {
				t.Fatalf("resume across the restart: %+v %d lines, err %v", h, len(got), err)
			}
			if got[0].Prev != before.Seq || !strings.Contains(string(got[0].Body), "Received uplink #2") {
				t.Fatalf("first line after the restart: %+v, want prev %d", got[0], before.Seq)
			}
		})
	}
}

// JetStream cannot change a stream's storage: a window configured for the
// file store finds a memory stream in place and keeps it (limits updated),
// rather than failing every ensure.
func TestLiveLogStreamKeepsItsStorage(t *testing.T) {
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	memory := testWindow
	memory.Storage = jetstream.MemoryStorage
	e1, err := natsbus.EnsureLiveLogStream(ctx, js, memory)
	if err != nil {
		t.Fatal(err)
	}
	file := testWindow
	file.Lines = 70
	e2, err := natsbus.EnsureLiveLogStream(ctx, js, file)
	if err != nil || e2 != e1 {
		t.Fatalf("ensure over a memory stream: epoch %q -> %q, err %v", e1, e2, err)
	}
	s, err := js.Stream(ctx, natsbus.LiveLogStream)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.Storage != jetstream.MemoryStorage || c.MaxMsgsPerSubject != 70 {
		t.Fatalf("stream after the second ensure: storage %v, lines %d", c.Storage, c.MaxMsgsPerSubject)
	}
}

func TestLiveLogFollowDeliversInOrder(t *testing.T) {
	url, _ := natstest.Start(t)
	w, l := liveLogSetup(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan livelog.Entry, 100)
	done := make(chan error, 1)
	go func() { done <- w.Follow(ctx, func(e livelog.Entry) { got <- e }) }()
	time.Sleep(200 * time.Millisecond) // DeliverNew: let the consumer start
	for i := range 20 {
		l.Publish(fmt.Sprint("d", i%2), line("d", i))
	}
	last := map[string]uint64{}
	for range 20 {
		select {
		case e := <-got:
			if e.Prev != last[e.DeviceID] {
				t.Fatalf("%s: prev %d after %d", e.DeviceID, e.Prev, last[e.DeviceID])
			}
			last[e.DeviceID] = e.Seq
		case <-time.After(5 * time.Second):
			t.Fatal("feed stalled")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// With the bus down, lines are dropped and counted, never stored later
// with a hole in the chain; the CoAP side never waits.
func TestLiveLogDropsAreCounted(t *testing.T) {
	opts := natstest.Options(t)
	srv := natstest.Run(t, opts)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	w, err := natsbus.NewLiveWindow(context.Background(), js, testWindow, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	l, err := natsbus.NewLiveLog(js, natsbus.LiveLogOptions{Ensure: w.Ensure, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Publish("d", line("d", 1))
	waitCount(t, w, "d", 1)
	srv.Shutdown()
	srv.WaitForShutdown()
	start := time.Now()
	for i := 2; i <= 4; i++ {
		l.Publish("d", line("d", i))
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("Publish blocked %v with the bus down", d)
	}
	deadline := time.Now().Add(15 * time.Second)
	for promtest.Counter(t, reg, "liveplane_livelog_dropped_total") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped = %v, want 3", promtest.Counter(t, reg, "liveplane_livelog_dropped_total"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := promtest.Counter(t, reg, "liveplane_livelog_published_total"); p != 1 {
		t.Fatalf("published = %v", p)
	}
}
