package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// HeartbeatBucket is the key-value bucket of cluster heartbeats: one key
// per cluster, one value kept (history 1). A daemon beating every 5 s
// replaces its value instead of adding an event to the stream, so the
// events stream does not grow with uptime.
const HeartbeatBucket = "liveplane_heartbeats"

func heartbeatBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      HeartbeatBucket,
		Description: "liveplane: newest heartbeat per cluster daemon",
		History:     1,
		Storage:     jetstream.FileStorage,
		MaxBytes:    16 << 20,
	}
}

// EnsureHeartbeats creates the bucket or binds to it.
func EnsureHeartbeats(ctx context.Context, js jetstream.JetStream) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, HeartbeatBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		cfg := heartbeatBucketConfig()
		cfg.Replicas = ReplicasFor(js.Conn()) // survives a node of a NATS cluster, like the streams
		kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("heartbeat bucket: %w", err)
	}
	return kv, nil
}

// Heartbeats writes a daemon's beats (the daemon side).
type Heartbeats struct{ kv jetstream.KeyValue }

func NewHeartbeats(kv jetstream.KeyValue) *Heartbeats { return &Heartbeats{kv: kv} }

// Beat replaces the cluster's value; the server's store time is the beat's
// time, so daemon clocks do not matter.
func (h *Heartbeats) Beat(ctx context.Context, hb provisioning.Heartbeat) error {
	b, err := proto.Marshal(&lpv1.ClusterHeartbeat{Cluster: hb.Cluster, DaemonVersion: hb.DaemonVersion})
	if err != nil {
		return err
	}
	if _, err := h.kv.Put(ctx, hb.Cluster, b); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	return nil
}

// HeartbeatWatcher keeps the newest beat of every cluster in memory (the
// serve side); every replica watches the bucket, so all agree.
type HeartbeatWatcher struct {
	kv   jetstream.KeyValue
	mu   sync.Mutex
	last map[string]time.Time
}

var _ provisioning.HeartbeatSource = (*HeartbeatWatcher)(nil)

func NewHeartbeatWatcher(kv jetstream.KeyValue) *HeartbeatWatcher {
	return &HeartbeatWatcher{kv: kv, last: map[string]time.Time{}}
}

// Run watches until ctx ends, watching again when a watch breaks.
func (w *HeartbeatWatcher) Run(ctx context.Context) error {
	watchKV(ctx, w.kv, jetstream.AllKeys, func(e jetstream.KeyValueEntry) {
		w.mu.Lock()
		if t := e.Created(); t.After(w.last[e.Key()]) {
			w.last[e.Key()] = t
		}
		w.mu.Unlock()
	})
	return nil
}

// watchKV hands fn every value put under keys (the current ones first),
// until ctx ends; a watch that breaks is opened again a second later.
func watchKV(ctx context.Context, kv jetstream.KeyValue, keys string, fn func(jetstream.KeyValueEntry)) {
	for ctx.Err() == nil {
		if err := watchOnce(ctx, kv, keys, fn); err != nil && ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func watchOnce(ctx context.Context, kv jetstream.KeyValue, keys string, fn func(jetstream.KeyValueEntry)) error {
	kw, err := kv.Watch(ctx, keys)
	if err != nil {
		return err
	}
	defer func() { _ = kw.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-kw.Updates():
			if !ok {
				return errors.New("key-value watch closed")
			}
			if e != nil && e.Operation() == jetstream.KeyValuePut {
				fn(e)
			}
		}
	}
}

// LastHeartbeats returns a copy of the newest beat per cluster.
func (w *HeartbeatWatcher) LastHeartbeats(context.Context) (map[string]time.Time, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]time.Time, len(w.last))
	for k, v := range w.last {
		out[k] = v
	}
	return out, nil
}
