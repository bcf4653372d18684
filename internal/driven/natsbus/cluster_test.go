package natsbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

// On a three-node cluster the streams get three replicas, so killing any
// one node loses nothing that JetStream acknowledged and publishing goes on.
func TestStreamsSurviveANodeOnACluster(t *testing.T) {
	c := natstest.StartCluster(t, 3)
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := natsbus.ReplicasFor(nc); got != 3 {
		t.Fatalf("ReplicasFor on a 3-node cluster = %d, want 3", got)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := natsbus.EnsureStreamsReplicated(ctx, js, natsbus.ReplicasFor(nc)); err != nil {
		t.Fatal(err)
	}
	publish := func(i int) error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := js.Publish(pctx, natsbus.EventsSubjectPrefix+"test", []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint("m", i)))
		return err
	}
	const total = 400
	acked := 0
	for i := range total {
		if i == total/2 {
			c.Kill(i % 3) // any node, possibly the stream leader or the one we are connected to
		}
		// A publish in flight when the node dies may fail; retry it as the
		// outbox does (same Nats-Msg-Id, so a duplicate is dropped).
		deadline := time.Now().Add(20 * time.Second)
		for publish(i) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("publish %d: no success within 20 s after a node loss", i)
			}
			time.Sleep(100 * time.Millisecond)
		}
		acked++
	}
	s, err := js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("published %d, acknowledged %d, stored %d, replicas %d, one of 3 nodes down", total, acked, info.State.Msgs, info.Config.Replicas)
	if info.Config.Replicas != 3 {
		t.Errorf("stream has %d replicas, want 3", info.Config.Replicas)
	}
	if info.State.Msgs != total {
		t.Errorf("stored %d messages, want %d (each acknowledged once)", info.State.Msgs, total)
	}
}

func TestReplicasForASingleServer(t *testing.T) {
	url, _ := natstest.Start(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := natsbus.ReplicasFor(nc); got != 1 {
		t.Fatalf("ReplicasFor on one server = %d, want 1", got)
	}
}
