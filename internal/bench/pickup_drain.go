package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runDrain fills --messages messages over --queues queues, then picks them
// all up V1 style (takeFromQueue with deleteMessages) or V2 style (take,
// then removeMessages), and checks: every message picked up once, no
// duplicates, every queue empty. The result's rate is the pickup rate;
// latency is per take (and remove, for V2).
func (p *Pickup) runDrain(ctx context.Context, env Env) (Result, error) {
	if p.style != "v1" && p.style != "v2" {
		return Result{}, fmt.Errorf("--style %q: want v1 or v2", p.style)
	}
	conns, err := pickupConns(ctx, p.sockets, p.url, p.key, nil)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	prefix := namePrefix()
	queue := func(q int64) string { return fmt.Sprintf("%s-q%d", prefix, q%int64(p.queues)) }
	params := make([][]byte, p.queues)
	for q := range params {
		params[q] = addParams(queue(int64(q)), p.payload, 0)
	}
	// Fill, 256 calls in flight.
	fillStart := time.Now()
	var next atomic.Int64
	var fillErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 256 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(p.messages); i = next.Add(1) - 1 {
				if _, err := conns[w%len(conns)].call(ctx, "addMessage", params[i%int64(p.queues)]); err != nil {
					once.Do(func() { fillErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if fillErr != nil {
		return Result{}, fmt.Errorf("fill: %w", fillErr)
	}
	fillRate := float64(p.messages) / time.Since(fillStart).Seconds()
	env.Log.Info("filled", "messages", p.messages, "rate", fmt.Sprintf("%.0f/s", fillRate))

	// Pick up: one worker per queue at a time, 64 workers.
	rec := newRecorder()
	var (
		seen       sync.Map
		picked     atomic.Int64
		duplicates atomic.Int64
		queueNext  atomic.Int64
	)
	start := time.Now()
	for w := range 64 {
		wg.Go(func() {
			c := conns[w%len(conns)]
			for q := queueNext.Add(1) - 1; q < int64(p.queues); q = queueNext.Add(1) - 1 {
				for range p.messages/100 + 2 { // bounded: each take empties 100 or ends the queue
					t0 := time.Now()
					var msgs []struct {
						ID string `json:"id"`
					}
					err := c.callJSON(ctx, "takeFromQueue", map[string]any{"connectionId": queue(q), "limit": 100,
						"deleteMessages": p.style == "v1"}, &msgs)
					if err == nil && p.style == "v2" && len(msgs) > 0 {
						ids := make([]string, len(msgs))
						for i, m := range msgs {
							ids[i] = m.ID
						}
						err = c.callJSON(ctx, "removeMessages", map[string]any{"connectionId": queue(q), "messageIds": ids}, nil)
					}
					rec.record(w, time.Since(t0), time.Now(), err)
					if err != nil || len(msgs) == 0 {
						break
					}
					for _, m := range msgs {
						if _, dup := seen.LoadOrStore(m.ID, struct{}{}); dup {
							duplicates.Add(1)
						}
					}
					picked.Add(int64(len(msgs)))
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var left int64
	for q := range int64(p.queues) {
		var n int64
		if err := conns[0].callJSON(ctx, "getAvailableMessageCount", map[string]string{"connectionId": queue(q)}, &n); err != nil {
			return Result{}, err
		}
		left += n
	}
	t := rec.totals()
	res := Result{Mode: ClosedLoop, Start: start.UTC(), Concurrency: 64, DurationSec: elapsed.Seconds(), ElapsedSec: elapsed.Seconds(),
		OK: t.ok, Errors: t.errs, Latency: summarise(t.hist), ErrorSamples: topErrors(t.errCounts, keepErrorSamples),
		AchievedRate: float64(picked.Load()) / elapsed.Seconds()}
	res.Extra = map[string]any{"style": p.style, "messages": p.messages, "picked": picked.Load(), "duplicates": duplicates.Load(),
		"left": left, "fill_rate": fillRate, "rate_unit": "messages picked up per second"}
	if duplicates.Load() != 0 || left != 0 || picked.Load() != int64(p.messages) {
		return res, fmt.Errorf("drain %s: picked %d of %d, %d duplicates, %d left", p.style, picked.Load(), p.messages, duplicates.Load(), left)
	}
	return res, nil
}
