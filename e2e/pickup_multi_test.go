package e2e

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/testinfra/natstest"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// Two gateways on one PostgreSQL and one NATS: a message added on A for a
// session held on B is delivered by B, within milliseconds; a takeover on A
// of B's session moves delivery to A and B hears nothing more.
func TestPickupAcrossInstances(t *testing.T) {
	db := pgtest.New(t)
	natsURL, _ := natstest.Start(t)
	args := []string{"--database", db, "--nats", natsURL}
	a := startServe(t, "", nil, args...)
	b := startServe(t, "", nil, args...)
	key := a.accountKey(t, "mediators")
	onA := mustDialMPR(t, a.pickupAddr(t), key)
	onB := mustDialMPR(t, b.pickupAddr(t), key)

	onB.must("addLiveSession", map[string]string{"connectionId": "c1", "sessionId": "s-b"}, nil)
	var live bool
	onA.must("getLiveSession", map[string]string{"connectionId": "c1"}, &live)
	if !live {
		t.Fatal("A does not see B's session")
	}
	var lat []time.Duration
	for i := range 200 {
		t0 := time.Now()
		id := onA.add("c1", nil)
		select {
		case n := <-onB.notes:
			if len(n.Params.Messages) != 1 || n.Params.Messages[0].ID != id || n.Params.ConnectionID != "c1" {
				t.Fatalf("message %d: B got %+v, want %s", i, n, id)
			}
			lat = append(lat, n.At.Sub(t0))
			onB.must("removeMessages", map[string]any{"connectionId": "c1", "messageIds": []string{id}}, nil)
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d added on A never reached B", i)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("add on A -> messagesReceived on B over %d messages: p50 %v, p99 %v, max %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	if p50 := lat[len(lat)/2]; p50 > 50*time.Millisecond {
		t.Errorf("median add -> delivery across instances %v: not milliseconds", p50)
	}

	// Takeover from the other instance; B's late remove is a no-op.
	onA.must("addLiveSession", map[string]string{"connectionId": "c1", "sessionId": "s-a"}, nil)
	id := onA.add("c1", nil)
	select {
	case n := <-onA.notes:
		if !slices.ContainsFunc(n.Params.Messages, func(m struct {
			ID string `json:"id"`
		}) bool {
			return m.ID == id
		}) {
			t.Fatalf("A got %+v, want %s", n, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the new holder on A was not notified")
	}
	var removed bool
	onB.must("removeLiveSession", map[string]string{"connectionId": "c1"}, &removed)
	onB.add("c1", nil) // added on B, for A's session
	select {
	case <-onA.notes:
	case <-time.After(5 * time.Second):
		t.Fatal("a message added on B did not reach the holder on A")
	}
	select {
	case n := <-onB.notes:
		t.Fatalf("the superseded holder on B was notified: %+v", n)
	case <-time.After(300 * time.Millisecond):
	}
	if removed {
		t.Fatal("B's stale removeLiveSession ended A's session")
	}
}
