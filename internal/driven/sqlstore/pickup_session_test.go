package sqlstore_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

func heartbeat(t *testing.T, st pickup.Store, h pickup.Holder) {
	t.Helper()
	if err := st.Heartbeat(ctx, h.Instance, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, st pickup.Store, conn, session string, h pickup.Holder) (pickup.Lease, pickup.Lease) {
	t.Helper()
	l, prev, err := st.StartSession(ctx, pickup.Lease{Account: "acct", ConnectionID: conn, SessionID: session, Holder: h}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return l, prev
}

func TestPickupLeaseTakeover(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		heartbeat(t, st, sockA)
		heartbeat(t, st, sockB)
		queued := msg("acct", "c", `"queued"`)
		add(t, st, queued)

		l1, prev := start(t, st, "c", "s1", sockA)
		if l1.Epoch != 1 || prev.Held() {
			t.Fatalf("first lease %+v prev %+v", l1, prev)
		}
		if _, live, _ := st.LiveSession(ctx, "acct", "c", t0); !live {
			t.Fatal("lease of a live instance is not live")
		}
		// Starting a session drains: the queued message goes in flight to l1.
		got, err := st.Claim(ctx, l1, t0.Add(30*time.Second), 64, 1<<20)
		if err != nil || !slices.Equal(ids(got), []string{queued.ID}) {
			t.Fatalf("claim: %v %v", ids(got), err)
		}
		// A new message goes in flight to the lease at commit.
		res := add(t, st, msg("acct", "c", `"live"`))
		if res[0].Live == nil || *res[0].Live != l1 {
			t.Fatalf("live add: %+v, want lease %+v", res[0].Live, l1)
		}
		if n := count(t, st, "acct", "c", ""); n != 0 {
			t.Fatalf("in-flight messages counted as available: %d", n)
		}

		// B takes over.
		l2, prev := start(t, st, "c", "s2", sockB)
		if l2.Epoch != 2 || prev != l1 {
			t.Fatalf("takeover lease %+v prev %+v", l2, prev)
		}
		// Late calls from A are no-ops for B.
		if _, ok, err := st.EndSession(ctx, "acct", "c", "", sockA, t0); err != nil || ok {
			t.Fatalf("stale removeLiveSession from A ended the lease: %v %v", ok, err)
		}
		if _, ok, _ := st.EndSession(ctx, "acct", "c", "s1", sockB, t0); ok {
			t.Fatal("removeLiveSession naming another session ended the lease")
		}
		if got, _ := st.Claim(ctx, l1, t0.Add(time.Minute), 64, 1<<20); len(got) != 0 {
			t.Fatalf("superseded lease claimed %v", ids(got))
		}
		after := msg("acct", "c", `"after"`)
		res = add(t, st, after)
		if *res[0].Live != l2 {
			t.Fatalf("add after takeover went to %+v", res[0].Live)
		}
		if n, _ := removeOne(st, "acct", "c", []string{after.ID}, sockA); n != 0 {
			t.Fatalf("A removed %d of B's in-flight messages", n)
		}

		// Before the grace period nothing moves; after it, A's two in-flight
		// messages are pending again and B's lease is reported to drain.
		if leases, _ := st.Requeue(ctx, t0.Add(500*time.Millisecond), 100); len(leases) != 0 {
			t.Fatalf("requeue before grace: %+v", leases)
		}
		leases, err := st.Requeue(ctx, t0.Add(1500*time.Millisecond), 100)
		if err != nil || len(leases) != 1 || leases[0] != l2 {
			t.Fatalf("requeue after grace: %+v %v", leases, err)
		}
		got, _ = st.Claim(ctx, l2, t0.Add(time.Minute), 64, 1<<20)
		if len(got) != 2 || string(got[0].Payload) != `"queued"` {
			t.Fatalf("B drains %q", payloads(got))
		}

		// B's socket closes: the lease ends; a remove by B still works on
		// its own in-flight messages.
		ended, err := st.EndHolder(ctx, sockB, t0.Add(time.Second))
		if err != nil || len(ended) != 1 || ended[0] != l2 {
			t.Fatalf("end holder: %+v %v", ended, err)
		}
		if _, live, _ := st.LiveSession(ctx, "acct", "c", t0); live {
			t.Fatal("lease survived its socket")
		}
		if n, _ := removeOne(st, "acct", "c", ids(got), sockB); n != 2 {
			t.Fatalf("B acks its in-flight messages: %d", n)
		}
	})
}

func TestPickupLeaseNeedsLiveInstance(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		if err := st.Heartbeat(ctx, sockA.Instance, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		start(t, st, "c", "s1", sockA)
		if _, live, _ := st.LiveSession(ctx, "acct", "c", t0); !live {
			t.Fatal("not live with a current heartbeat")
		}
		if _, live, _ := st.LiveSession(ctx, "acct", "c", t0.Add(2*time.Second)); live {
			t.Fatal("live after the instance's heartbeat expired")
		}
		p := params(t0.Add(2 * time.Second))
		res, err := st.AddMessages(ctx, p, []pickup.NewMessage{msg("acct", "c", `1`)})
		if err != nil || res[0].Live != nil {
			t.Fatalf("message for a dead instance's lease went live: %+v %v", res, err)
		}
		if err := st.Leave(ctx, sockA.Instance); err != nil {
			t.Fatal(err)
		}
		if n := count(t, st, "acct", "c", ""); n != 1 {
			t.Fatalf("pending = %d", n)
		}
	})
}

func TestPickupPushWindow(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		tok := &pickup.PushToken{Type: "webhook", Token: "http://127.0.0.1:1/hook"}
		var claimed int
		for i := range 20 {
			m := msg("acct", "c", `1`)
			m.Push = tok
			now := t0.Add(time.Duration(i) * time.Second) // windows of 10s: claims at 0s and 10s
			res, err := st.AddMessages(ctx, params(now), []pickup.NewMessage{m, m2(m)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Push {
					claimed++
				}
			}
		}
		if claimed != 2 {
			t.Fatalf("claimed %d windows over 20s of 10s windows, want 2", claimed)
		}
		due, err := st.DuePushes(ctx, t0.Add(20*time.Second), t0.Add(40*time.Second), 10)
		if err != nil || len(due) != 1 || due[0].Token != *tok || due[0].Attempts != 1 {
			t.Fatalf("due: %+v %v", due, err)
		}
		if again, _ := st.DuePushes(ctx, t0.Add(21*time.Second), t0.Add(40*time.Second), 10); len(again) != 0 {
			t.Fatalf("leased notification handed out twice: %+v", again)
		}
		if err := st.FinishPush(ctx, due[0], pickup.PushOutcome{State: pickup.PushDue, RetryAt: t0.Add(22 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		due, _ = st.DuePushes(ctx, t0.Add(22*time.Second), t0.Add(40*time.Second), 10)
		if len(due) != 1 || due[0].Attempts != 2 {
			t.Fatalf("retry: %+v", due)
		}
		if err := st.FinishPush(ctx, due[0], pickup.PushOutcome{State: pickup.PushSent}); err != nil {
			t.Fatal(err)
		}
		if again, _ := st.DuePushes(ctx, t0.Add(time.Hour), t0.Add(2*time.Hour), 10); len(again) != 0 {
			t.Fatalf("sent notification due again: %+v", again)
		}
	})
}

func m2(m pickup.NewMessage) pickup.NewMessage {
	n := msg(m.Account, m.ConnectionID, string(m.Payload))
	n.Push = m.Push
	return n
}

// Concurrent batches on one queue and across queues keep counters exact
// and sequences unique (PostgreSQL runs them side by side).
func TestPickupConcurrentAdds(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for range 20 {
					batch := []pickup.NewMessage{msg("acct", "hot", `1`), msg("acct", string(rune('a'+w)), `1`), msg("acct", "hot", `1`)}
					if _, err := st.AddMessages(ctx, params(t0), batch); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := count(t, st, "acct", "hot", ""); n != 320 {
			t.Fatalf("hot queue counter = %d, want 320", n)
		}
		got := take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "hot", Limit: 1000, Delete: true})
		if len(got) != 320 || !slices.IsSortedFunc(got, func(a, b pickup.Message) int { return int(a.Seq - b.Seq) }) {
			t.Fatalf("took %d, sorted %v", len(got), slices.IsSortedFunc(got, func(a, b pickup.Message) int { return int(a.Seq - b.Seq) }))
		}
	})
}

// Messages added while the holder's heartbeat lapsed stay pending; the
// holder finds them once it is back.
func TestPickupPendingLeases(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		if err := st.Heartbeat(ctx, sockA.Instance, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		l, _ := start(t, st, "c", "s1", sockA)
		start(t, st, "quiet", "s2", sockA)
		res, err := st.AddMessages(ctx, params(t0.Add(2*time.Second)), []pickup.NewMessage{msg("acct", "c", `1`)})
		if err != nil || res[0].Live != nil {
			t.Fatalf("add during the lapse: %+v %v", res, err)
		}
		leases, err := st.PendingLeases(ctx, sockA.Instance, 10)
		if err != nil || len(leases) != 1 || leases[0] != l {
			t.Fatalf("pending leases %+v %v, want [%+v]", leases, err, l)
		}
		if other, _ := st.PendingLeases(ctx, sockB.Instance, 10); len(other) != 0 {
			t.Fatalf("another instance's pending leases: %+v", other)
		}
	})
}
