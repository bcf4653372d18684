package pickup

import (
	"context"
	"runtime"

	"github.com/liveplane/liveplane/internal/domain"
)

// addReq is one addMessage waiting for its group commit.
type addReq struct {
	msg NewMessage
	res chan AddResult // buffered: the batcher never blocks on a caller that left
}

var errClosed = domain.Errorf(domain.CodeUnavailable, "pickup", "the pickup repository is shutting down")

// enqueue hands m to a batcher and waits for its commit. A caller whose ctx
// ends first gets ctx's error; its message may still commit (at least once).
func (s *Service) enqueue(ctx context.Context, m NewMessage) (AddResult, error) {
	r := &addReq{msg: m, res: make(chan AddResult, 1)}
	s.stopMu.RLock()
	if s.stopped {
		s.stopMu.RUnlock()
		return AddResult{}, errClosed
	}
	select {
	case s.adds <- r:
		s.stopMu.RUnlock()
	case <-ctx.Done():
		s.stopMu.RUnlock()
		return AddResult{}, domain.Errorf(domain.CodeUnavailable, "pickup.AddMessage", "gave up waiting: %v", ctx.Err())
	}
	select {
	case res := <-r.res:
		return res, res.Err
	case <-ctx.Done():
		return AddResult{}, domain.Errorf(domain.CodeUnavailable, "pickup.AddMessage", "gave up waiting for the commit: %v", ctx.Err())
	}
}

// batchLoop is group commit for addMessage: it takes whatever is queued (up
// to MaxBatch) as one AddMessages transaction, so while one batch commits
// the next one fills. On SQLite the transaction rides the store's funnel; on
// PostgreSQL BatchWorkers batches commit side by side.
func (s *Service) batchLoop() {
	defer s.workers.Done()
	batch := make([]*addReq, 0, s.opt.MaxBatch)
	msgs := make([]NewMessage, 0, s.opt.MaxBatch)
	for r := range s.adds {
		batch = collect(s.adds, append(batch[:0], r), s.opt.MaxBatch)
		msgs = msgs[:0]
		for _, r := range batch {
			msgs = append(msgs, r.msg)
		}
		s.commit(batch, msgs)
	}
}

// collect adds to batch what is queued on ch, up to max. Then it lets the
// goroutines that are runnable (handlers of frames already read) enqueue
// theirs, and takes those too, before the caller commits. Without the
// yield, on one core the batcher wakes on every single request and commits
// batches of one or two.
func collect[T any](ch <-chan T, batch []T, max int) []T {
	for round := 0; round < 4 && len(batch) < max; round++ {
		before := len(batch)
	drain:
		for len(batch) < max {
			select {
			case r, ok := <-ch:
				if !ok {
					return batch
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		if round > 0 && len(batch) == before {
			break
		}
		runtime.Gosched()
	}
	return batch
}

func (s *Service) commit(batch []*addReq, msgs []NewMessage) {
	now := s.clock.Now()
	p := AddParams{Now: now, Limits: s.opt.Limits, AckDeadline: now.Add(s.opt.AckTimeout), PushWindow: s.opt.PushWindow}
	// The transaction outlives any one caller: once started it commits, and
	// callers that left simply do not hear the answer.
	results, err := s.store.AddMessages(context.Background(), p, msgs)
	if err == nil && len(results) != len(msgs) {
		err = domain.Errorf(domain.CodeInternal, "pickup.AddMessage", "store answered %d results for %d messages", len(results), len(msgs))
	}
	if err != nil {
		err = domain.Wrap("pickup.AddMessage", err)
		for _, r := range batch {
			r.res <- AddResult{Err: err}
		}
		return
	}
	s.metrics.batch(len(msgs))
	// Hand live messages to their holders first (one delivery per lease),
	// then answer: the add's latency then covers the hand-off, and the
	// notification is never behind the answer of a later add.
	var (
		deliveries []Delivery
		index      map[Lease]int
		pushed     bool
		added      int
	)
	for i, res := range results {
		if res.Err != nil {
			continue
		}
		added++
		pushed = pushed || res.Push
		if res.Live == nil {
			continue
		}
		m := msgs[i].Message
		m.Seq = res.Seq
		if len(deliveries) == 0 {
			index = map[Lease]int{}
		}
		if j, ok := index[*res.Live]; ok {
			deliveries[j].Messages = append(deliveries[j].Messages, m)
			continue
		}
		index[*res.Live] = len(deliveries)
		deliveries = append(deliveries, Delivery{Lease: *res.Live, Messages: []Message{m}})
	}
	for _, d := range deliveries {
		s.notify.Deliver(context.Background(), d)
		s.metrics.delivered(len(d.Messages))
	}
	s.metrics.added(added)
	if pushed {
		select {
		case s.pushWake <- struct{}{}:
		default:
		}
	}
	for i, r := range batch {
		if results[i].Err != nil {
			s.metrics.refused("quota")
		}
		r.res <- results[i]
	}
}
