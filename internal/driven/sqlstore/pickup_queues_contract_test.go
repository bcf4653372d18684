package sqlstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

// listAll pages through a listing, limit queues at a time.
func listAll(t *testing.T, ql pickup.QueueLister, sort pickup.QueueSort, limit int) ([]pickup.QueueInfo, int) {
	t.Helper()
	var (
		all   []pickup.QueueInfo
		after string
		pages int
	)
	for {
		page, err := ql.ListQueues(ctx, pickup.QueueQuery{Sort: sort, After: after, Limit: limit, Now: t0})
		if err != nil {
			t.Fatalf("list %s after %q: %v", sort, after, err)
		}
		pages++
		if len(page.Queues) > limit {
			t.Fatalf("page of %d queues, limit %d", len(page.Queues), limit)
		}
		all = append(all, page.Queues...)
		if page.Next == "" {
			return all, pages
		}
		if pages > 100 {
			t.Fatal("listing does not end")
		}
		after = page.Next
	}
}

func queueNames(qs []pickup.QueueInfo) []string {
	var out []string
	for _, q := range qs {
		out = append(out, q.Account+"/"+q.ConnectionID)
	}
	return out
}

func find(qs []pickup.QueueInfo, acct, conn string) pickup.QueueInfo {
	for _, q := range qs {
		if q.Account == acct && q.ConnectionID == conn {
			return q
		}
	}
	return pickup.QueueInfo{}
}

func TestPickupQueueListing(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st, ql := s.Pickup(), s.PickupQueues()
		heartbeat(t, st, sockA)
		at := func(m pickup.NewMessage, d time.Duration) pickup.NewMessage { m.ReceivedAt = t0.Add(d); return m }
		// Received in this order: old (1), deep (3), mid (2); another
		// account's queue with the same connection id as mid.
		add(t, st, at(msg("acct", "old", `"o"`), -time.Hour))
		add(t, st, at(msg("acct", "deep", `"d1"`), -time.Minute), msg("acct", "deep", `"d2"`), msg("acct", "deep", `"d3"`))
		add(t, st, at(msg("acct", "mid", `"m1"`), -30*time.Second), msg("acct", "mid", `"m2"`))
		add(t, st, msg("acct2", "mid", `"x"`))
		// One in flight: stored, not pending.
		take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "mid", Limit: 1, By: sockB})
		// A live session on deep, taken now.
		before := time.Now().Add(-time.Second)
		start(t, st, "deep", "sess-1", sockA)
		// A queue emptied by its reader is still a queue (empty).
		add(t, st, msg("acct", "empty", `"e"`))
		take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "empty", Delete: true})

		all, pages := listAll(t, ql, pickup.SortConnection, 2)
		want := []string{"acct/deep", "acct/empty", "acct/mid", "acct/old", "acct2/mid"}
		if got := queueNames(all); !slices.Equal(got, want) || pages != 3 {
			t.Fatalf("by connection, 2 a page: %v in %d pages, want %v in 3", got, pages, want)
		}
		deep := find(all, "acct", "deep")
		if deep.Depth != 3 || deep.Pending != 3 || deep.Bytes != 12 || !deep.Oldest.Equal(t0.Add(-time.Minute)) {
			t.Fatalf("deep: %+v (3 stored and pending, 12 bytes, oldest t0-1m)", deep)
		}
		if deep.Session.SessionID != "sess-1" || deep.Session.Holder != sockA || deep.Session.Epoch != 1 || !deep.SessionLive {
			t.Fatalf("deep's session: %+v live %v", deep.Session, deep.SessionLive)
		}
		if deep.SessionSince.Before(before) || deep.SessionSince.After(time.Now()) {
			t.Fatalf("deep's session since %v, want about now", deep.SessionSince)
		}
		mid := find(all, "acct", "mid")
		if mid.Depth != 2 || mid.Pending != 1 || mid.Session.Held() || !mid.Oldest.Equal(t0.Add(-30*time.Second)) {
			t.Fatalf("mid: %+v (2 stored, 1 pending, no session)", mid)
		}
		if e := find(all, "acct", "empty"); e.Depth != 0 || !e.Oldest.IsZero() || e.Bytes != 0 {
			t.Fatalf("empty: %+v", e)
		}

		all, _ = listAll(t, ql, pickup.SortDepth, 2)
		want = []string{"acct/deep", "acct/mid", "acct/old", "acct2/mid", "acct/empty"}
		if got := queueNames(all); !slices.Equal(got, want) {
			t.Fatalf("by depth: %v, want %v (ties by account, connection)", got, want)
		}
		all, _ = listAll(t, ql, pickup.SortAge, 2)
		want = []string{"acct/old", "acct/deep", "acct/mid", "acct2/mid"}
		if got := queueNames(all); !slices.Equal(got, want) {
			t.Fatalf("by age: %v, want %v (empty queues not listed)", got, want)
		}

		// The session's instance stops heartbeating: still held, not live.
		if err := st.Leave(ctx, sockA.Instance); err != nil {
			t.Fatal(err)
		}
		page, err := ql.ListQueues(ctx, pickup.QueueQuery{Sort: pickup.SortDepth, Limit: 1, Now: t0})
		if err != nil || len(page.Queues) != 1 || !page.Queues[0].Session.Held() || page.Queues[0].SessionLive {
			t.Fatalf("after the instance left: %+v %v", page.Queues, err)
		}
		// Ended: no holder, no start time.
		if _, ok, err := st.EndSession(ctx, "acct", "deep", "sess-1", sockA, t0); err != nil || !ok {
			t.Fatalf("end session: %v %v", ok, err)
		}
		all, _ = listAll(t, ql, pickup.SortConnection, 500)
		if d := find(all, "acct", "deep"); d.Session.Held() || !d.SessionSince.IsZero() || d.SessionLive {
			t.Fatalf("after the session ended: %+v", d)
		}

		// Tokens are bound to their sort and to this listing.
		for _, tc := range []struct {
			sort  pickup.QueueSort
			after string
		}{{pickup.SortAge, page.Next}, {pickup.SortDepth, "not a token"}, {pickup.SortDepth, "Zm9v"}} {
			_, err := ql.ListQueues(ctx, pickup.QueueQuery{Sort: tc.sort, After: tc.after, Limit: 5, Now: t0})
			if !domain.Is(err, domain.CodeInvalid) {
				t.Errorf("sort %s after %q: %v, want invalid", tc.sort, tc.after, err)
			}
		}
	})
}

// Pushes are counted per queue when recorded as sent, in FinishPush's
// transaction; an outcome for a window a newer one replaced is not.
func TestPickupQueuePushesSent(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st, ql := s.Pickup(), s.PickupQueues()
		tok := &pickup.PushToken{Type: "webhook", Token: "http://127.0.0.1:1/hook"}
		claim := func(now time.Time) {
			m := msg("acct", "c", `1`)
			m.Push = tok
			if res, err := st.AddMessages(ctx, params(now), []pickup.NewMessage{m}); err != nil || !res[0].Push {
				t.Fatalf("claim at %v: %+v %v", now, res, err)
			}
		}
		claim(t0)
		due, err := st.DuePushes(ctx, t0, t0.Add(time.Minute), 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("due: %+v %v", due, err)
		}
		stale := due[0]
		claim(t0.Add(11 * time.Second)) // a new window replaces the first
		if err := st.FinishPush(ctx, stale, pickup.PushOutcome{State: pickup.PushSent}); err != nil {
			t.Fatal(err)
		}
		all, _ := listAll(t, ql, pickup.SortConnection, 10)
		if c := find(all, "acct", "c"); c.PushesSent != 0 || !c.LastPush.IsZero() {
			t.Fatalf("a replaced window's outcome was counted: %+v", c)
		}
		for i := range 2 {
			due, err = st.DuePushes(ctx, t0.Add(time.Hour*time.Duration(i+1)), t0.Add(2*time.Hour*time.Duration(i+1)), 10)
			if err != nil || len(due) != 1 {
				t.Fatalf("due %d: %+v %v", i, due, err)
			}
			if err := st.FinishPush(ctx, due[0], pickup.PushOutcome{State: pickup.PushSent}); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				claim(t0.Add(time.Hour + 30*time.Second))
			}
		}
		if err := st.FinishPush(ctx, due[0], pickup.PushOutcome{State: pickup.PushFailed, Error: "x"}); err != nil {
			t.Fatal(err)
		}
		all, _ = listAll(t, ql, pickup.SortConnection, 10)
		if c := find(all, "acct", "c"); c.PushesSent != 2 || c.LastPush.Before(time.Now().Add(-time.Minute)) {
			t.Fatalf("after two sent and one failed: %+v", c)
		}
	})
}

// A SortAge page reads a bounded number of messages: behind a deep old
// queue, the next queue comes on a later page, none is skipped.
func TestPickupQueueAgeWalkBounded(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st, ql := s.Pickup(), s.PickupQueues()
		p := params(t0)
		p.Limits = pickup.Limits{MaxMessages: 20000, MaxBytes: 1 << 30}
		for b := range 11 {
			batch := make([]pickup.NewMessage, 1000)
			for i := range batch {
				batch[i] = msg("acct", "deep", fmt.Sprintf("%d", b*1000+i))
			}
			if _, err := st.AddMessages(ctx, p, batch); err != nil {
				t.Fatal(err)
			}
		}
		add(t, st, msg("acct", "late", `1`))
		first, err := ql.ListQueues(ctx, pickup.QueueQuery{Sort: pickup.SortAge, Limit: 10, Now: t0})
		if err != nil || len(first.Queues) != 1 || first.Queues[0].ConnectionID != "deep" || first.Next == "" {
			t.Fatalf("first page: %v next %q %v, want deep alone and a cursor", queueNames(first.Queues), first.Next, err)
		}
		all, pages := listAll(t, ql, pickup.SortAge, 10)
		if got := queueNames(all); !slices.Equal(got, []string{"acct/deep", "acct/late"}) || pages != 2 {
			t.Fatalf("by age: %v in %d pages", got, pages)
		}
	})
}
