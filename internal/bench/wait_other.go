//go:build !linux

package bench

import (
	"context"
	"time"
)

// waiter falls back to Go timers off Linux; their granularity shows up in
// Result.DispatchLag.
type waiter struct{}

func newWaiter() *waiter { return &waiter{} }

func (w *waiter) wait(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, d) }

func (w *waiter) close() {}
