package pickup

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
)

// removeReq is one removeMessages waiting for its group commit.
type removeReq struct {
	r   Removal
	res chan removeRes
}

type removeRes struct {
	n   int64
	err error
}

// remove hands r to the remove batcher and waits for its commit.
// Acknowledgements arrive as often as messages do (a V2 live recipient
// acknowledges every delivery); one transaction each made the commits, and
// their WAL pages, outnumber the adds.
func (s *Service) remove(ctx context.Context, r Removal) (int64, error) {
	req := &removeReq{r: r, res: make(chan removeRes, 1)}
	s.stopMu.RLock()
	if s.stopped {
		s.stopMu.RUnlock()
		return 0, errClosed
	}
	select {
	case s.removes <- req:
		s.stopMu.RUnlock()
	case <-ctx.Done():
		s.stopMu.RUnlock()
		return 0, domain.Errorf(domain.CodeUnavailable, "pickup.RemoveMessages", "gave up waiting: %v", ctx.Err())
	}
	select {
	case res := <-req.res:
		return res.n, res.err
	case <-ctx.Done():
		return 0, domain.Errorf(domain.CodeUnavailable, "pickup.RemoveMessages", "gave up waiting for the commit: %v", ctx.Err())
	}
}

func (s *Service) removeLoop() {
	defer s.workers.Done()
	batch := make([]*removeReq, 0, s.opt.MaxBatch)
	reqs := make([]Removal, 0, s.opt.MaxBatch)
	for r := range s.removes {
		batch = collect(s.removes, append(batch[:0], r), s.opt.MaxBatch)
		reqs = reqs[:0]
		for _, b := range batch {
			reqs = append(reqs, b.r)
		}
		counts, err := s.store.RemoveMessages(context.Background(), reqs)
		if err == nil && len(counts) != len(reqs) {
			err = domain.Errorf(domain.CodeInternal, "pickup.RemoveMessages", "store answered %d counts for %d removals", len(counts), len(reqs))
		}
		for i, b := range batch {
			if err != nil {
				b.res <- removeRes{err: domain.Wrap("pickup.RemoveMessages", err)}
				continue
			}
			b.res <- removeRes{n: counts[i]}
		}
	}
}
