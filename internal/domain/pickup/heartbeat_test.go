package pickup

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// slowSweepStore stands in for a store whose sweep queries are stuck (a
// large backlog returning at once, a database under load). Only the
// methods Run calls are implemented; any other call panics.
type slowSweepStore struct {
	Store
	beats atomic.Int64
}

func (s *slowSweepStore) Heartbeat(context.Context, string, time.Time) error {
	s.beats.Add(1)
	return nil
}

func (s *slowSweepStore) Requeue(ctx context.Context, _ time.Time, _ int) ([]Lease, error) {
	<-ctx.Done() // stuck until Run stops
	return nil, ctx.Err()
}

func (s *slowSweepStore) PendingLeases(ctx context.Context, _ string, _ int) ([]Lease, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (s *slowSweepStore) DuePushes(context.Context, time.Time, time.Time, int) ([]Push, error) {
	return nil, nil
}

func (s *slowSweepStore) Leave(context.Context, string) error { return nil }

// A stuck sweep must not stop the heartbeat: leases that lapse stop adds
// from going in flight to live sessions (seen as a 10 s delivery stall
// under a 27,000-message backlog on PostgreSQL).
func TestHeartbeatKeepsBeatingWhileTheSweepIsStuck(t *testing.T) {
	st := &slowSweepStore{}
	svc := NewService(st, nil, nil, domain.SystemClock{}, nil, Options{
		Heartbeat: 10 * time.Millisecond, Sweep: time.Millisecond, PushPoll: time.Hour,
	})
	defer svc.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for st.beats.Load() < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := st.beats.Load(); n < 5 {
		t.Fatalf("%d heartbeats while the sweep was stuck, want at least 5", n)
	}
}
