package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

// Heartbeats replace one value per cluster: many beats leave the bucket at
// one message per cluster and the events stream untouched, and a watcher
// (started before or after the beats) sees each cluster's newest beat.
func TestHeartbeatsKeepOneValuePerCluster(t *testing.T) {
	url, _ := natstest.Start(t)
	_, js := natstest.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreams(ctx, js); err != nil {
		t.Fatal(err)
	}
	kv, err := natsbus.EnsureHeartbeats(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natsbus.EnsureHeartbeats(ctx, js); err != nil { // idempotent: daemon and serve both call it
		t.Fatal(err)
	}
	early := natsbus.NewHeartbeatWatcher(kv)
	go func() { _ = early.Run(ctx) }()
	beats := natsbus.NewHeartbeats(kv)
	start := time.Now()
	for range 200 {
		for _, c := range []string{"c1", "c2"} {
			if err := beats.Beat(ctx, provisioning.Heartbeat{Cluster: c, DaemonVersion: "v"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	last := time.Now()
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Values() != 2 {
		t.Fatalf("bucket holds %d values after 400 beats, want 2", st.Values())
	}
	es, err := js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := es.Info(ctx); info.State.Msgs != 0 {
		t.Fatalf("heartbeats reached the events stream: %d messages", info.State.Msgs)
	}
	late := natsbus.NewHeartbeatWatcher(kv)
	go func() { _ = late.Run(ctx) }()
	for _, w := range []*natsbus.HeartbeatWatcher{early, late} {
		deadline := time.Now().Add(5 * time.Second)
		for {
			m, _ := w.LastHeartbeats(ctx)
			ok := len(m) == 2
			for _, c := range []string{"c1", "c2"} {
				// The store's time: within the beats' window (1 s slack for clocks).
				ok = ok && m[c].After(start.Add(-time.Second)) && m[c].Before(last.Add(time.Second))
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("watcher saw %v", m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
