package bench

import (
	"context"
	"time"
)

// Waits longer than coarseWait sleep on a Go timer (which can watch a
// context) until fineWait before the target, then finish precisely.
const (
	coarseWait = 5 * time.Millisecond
	fineWait   = 2 * time.Millisecond
)

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
