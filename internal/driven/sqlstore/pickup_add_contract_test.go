package sqlstore_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

// queueState is a queue's counters as the listing reads them.
func queueState(t *testing.T, s *sqlstore.Store, acct, conn string) pickup.QueueInfo {
	t.Helper()
	all, _ := listAll(t, s.PickupQueues(), pickup.SortConnection, 100)
	return find(all, acct, conn)
}

// A batch in which one queue goes over its limit while the others fit:
// the others' messages are stored once, the counters agree with the rows.
// On PostgreSQL the common case is one statement that must change nothing
// when any queue would go over (the batch then takes the transaction path);
// had it committed the fitting queues' part, the retry would store their
// messages twice (or fail on their ids) and the counters would drift.
func TestPickupOverLimitBatchIsAtomic(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		p := params(t0)
		p.Limits = pickup.Limits{MaxMessages: 3, MaxBytes: 12}
		// The queues exist first, so the batch below is the fast path's.
		if _, err := st.AddMessages(ctx, p, []pickup.NewMessage{msg("acct", "a", `1`), msg("acct", "b", `1`),
			msg("acct", "b", `2`), msg("acct", "z", `1`)}); err != nil {
			t.Fatal(err)
		}
		batch := []pickup.NewMessage{
			msg("acct", "a", `2`), msg("acct", "b", `3`), msg("acct", "b", `4`), // b's fourth: over the count
			msg("acct", "z", `"1234567890"`), // z: over the bytes
			msg("acct", "a", `3`), msg("acct", "z", `2`),
		}
		res, err := st.AddMessages(ctx, p, batch)
		if err != nil {
			t.Fatal(err)
		}
		var refused []int
		for i, r := range res {
			if r.Err != nil {
				if domain.ErrorCode(r.Err) != domain.CodeExhausted {
					t.Fatalf("message %d: %v", i, r.Err)
				}
				refused = append(refused, i)
			}
		}
		if !slices.Equal(refused, []int{2, 3}) {
			t.Fatalf("refused %v, want [2 3]", refused)
		}
		for _, q := range []struct {
			conn  string
			depth int64
			bytes int64
		}{{"a", 3, 3}, {"b", 3, 3}, {"z", 2, 2}} {
			info := queueState(t, s, "acct", q.conn)
			if info.Depth != q.depth || info.Pending != q.depth || info.Bytes != q.bytes {
				t.Fatalf("queue %s: depth %d pending %d bytes %d, want %d %d %d", q.conn, info.Depth, info.Pending, info.Bytes,
					q.depth, q.depth, q.bytes)
			}
			got := take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: q.conn, Delete: true})
			if int64(len(got)) != q.depth {
				t.Fatalf("queue %s holds %d rows, its counter says %d", q.conn, len(got), q.depth)
			}
		}
	})
}

// Writers on several goroutines add to one live queue past its limit and
// to a queue without a session: exactly the limit is stored, every
// sequence is distinct, and the counters equal the rows (pending ones and
// in flight ones). On PostgreSQL the batches run side by side, some as the
// one statement, some (those that would go over) on the transaction path.
func TestPickupConcurrentAddsToOneQueue(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		heartbeat(t, st, sockA)
		lease, _ := start(t, st, "hot", "s1", sockA)
		add(t, st, msg("acct", "cold", `0`))
		p := params(t0)
		p.Limits = pickup.Limits{MaxMessages: 150, MaxBytes: 1 << 20}
		const workers, batches = 8, 10
		var (
			mu   sync.Mutex
			seqs = map[int64]bool{}
			hot  []string
			wg   sync.WaitGroup
		)
		errs := make(chan error, workers)
		for range workers {
			wg.Go(func() {
				for range batches {
					batch := []pickup.NewMessage{msg("acct", "hot", `1`), msg("acct", "cold", `1`), msg("acct", "hot", `1`)}
					res, err := st.AddMessages(ctx, p, batch)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					for i, r := range res {
						switch {
						case r.Err != nil && batch[i].ConnectionID == "hot" && domain.ErrorCode(r.Err) == domain.CodeExhausted:
						case r.Err != nil:
							errs <- r.Err
						case seqs[r.Seq]:
							errs <- domain.Errorf(domain.CodeInternal, "test", "sequence %d handed out twice", r.Seq)
						case batch[i].ConnectionID == "hot" && (r.Live == nil || *r.Live != lease):
							errs <- domain.Errorf(domain.CodeInternal, "test", "hot message not live to %+v: %+v", lease, r.Live)
						default:
							seqs[r.Seq] = true
							if batch[i].ConnectionID == "hot" {
								hot = append(hot, batch[i].ID)
							}
						}
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if len(hot) != 150 || len(seqs) != 150+workers*batches {
			t.Fatalf("stored %d hot messages (want 150) and %d in all (want %d)", len(hot), len(seqs), 150+workers*batches)
		}
		if info := queueState(t, s, "acct", "hot"); info.Depth != 150 || info.Pending != 0 || info.Bytes != 150 {
			t.Fatalf("hot queue: %+v", info)
		}
		if info := queueState(t, s, "acct", "cold"); info.Depth != 81 || info.Pending != 81 || info.Bytes != 81 {
			t.Fatalf("cold queue: %+v", info)
		}
		// The rows behind the counters: every hot message is in flight to
		// the lease, every cold one pending, in sequence order.
		n, err := removeOne(st, "acct", "hot", hot, sockA)
		if err != nil || n != 150 {
			t.Fatalf("removed %d hot messages (%v), want 150", n, err)
		}
		if info := queueState(t, s, "acct", "hot"); info.Depth != 0 || info.Bytes != 0 {
			t.Fatalf("hot queue after the removal: %+v", info)
		}
		cold := take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "cold", Delete: true})
		if len(cold) != 81 || !slices.IsSortedFunc(cold, func(a, b pickup.Message) int { return int(a.Seq - b.Seq) }) {
			t.Fatalf("cold queue: %d rows", len(cold))
		}
	})
}

// Removals in one batch on PostgreSQL's one statement: two removals of the
// same queue by different sockets, one in flight to each; each removes only
// what it may, and a message listed twice is counted once.
func TestPickupRemoveBatchSameQueue(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		a, b, c := msg("acct", "q", `1`), msg("acct", "q", `22`), msg("acct", "q", `333`)
		add(t, st, a, b, c)
		take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "q", Limit: 1, By: sockA}) // a in flight to A
		take(t, st, pickup.TakeQuery{Account: "acct", ConnectionID: "q", Limit: 1, By: sockB}) // b in flight to B
		n, err := st.RemoveMessages(ctx, []pickup.Removal{
			{Account: "acct", ConnectionID: "q", IDs: []string{a.ID, b.ID}, By: sockA},
			{Account: "acct", ConnectionID: "q", IDs: []string{c.ID, c.ID}, By: sockA},
		})
		if err != nil || !slices.Equal(n, []int64{1, 1}) {
			t.Fatalf("counts %v %v, want [1 1]", n, err)
		}
		if info := queueState(t, s, "acct", "q"); info.Depth != 1 || info.Pending != 0 || info.Bytes != 2 {
			t.Fatalf("queue after the removals: %+v", info)
		}
	})
}

// Batches that claim the same push tokens in opposite orders, on queues
// new to the store (so on PostgreSQL they take the transaction path):
// each locks the tokens' rows in one order, so no two can deadlock and
// every add succeeds.
func TestPickupPushClaimsInOppositeOrders(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		st := s.Pickup()
		tokens := []pickup.PushToken{{Type: "webhook", Token: "https://a.example/push"}, {Type: "webhook", Token: "https://b.example/push"}}
		const rounds = 60
		var wg sync.WaitGroup
		errs := make(chan error, 2*rounds)
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					batch := make([]pickup.NewMessage, 0, 2)
					for k := range 2 {
						m := msg("acct", fmt.Sprintf("w%d-r%d-%d", w, r, k), `1`)
						tok := tokens[(k+w)%2] // worker 0 claims a then b, worker 1 b then a
						m.Push = &tok
						batch = append(batch, m)
					}
					res, err := st.AddMessages(ctx, params(t0), batch)
					if err == nil {
						for _, x := range res {
							err = errors.Join(err, x.Err)
						}
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}
