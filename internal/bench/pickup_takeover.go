package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// takeoverCheck records who was notified of what.
type takeoverCheck struct {
	mu       sync.Mutex
	intended map[string]int          // message id -> the socket that held the session when it was added (after a takeover)
	notified map[string]map[int]bool // message id -> sockets notified
	seen     map[string]chan struct{}
}

func (c *takeoverCheck) note(sock int) func([]byte, time.Time) {
	return func(frame []byte, _ time.Time) {
		var n notified
		if json.Unmarshal(frame, &n) != nil {
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, m := range n.Params.Messages {
			if c.notified[m.ID] == nil {
				c.notified[m.ID] = map[int]bool{}
			}
			c.notified[m.ID][sock] = true
			if ch := c.seen[m.ID]; ch != nil {
				delete(c.seen, m.ID)
				close(ch)
			}
		}
	}
}

// wait returns a channel closed when id is notified (to anyone).
func (c *takeoverCheck) wait(id string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	if c.notified[id] != nil {
		close(ch)
		return ch
	}
	c.seen[id] = ch
	return ch
}

// runTakeover scripts --takeovers takeovers over 64 connections in
// parallel. Each cycle: the holder gets a message (in flight to it); the
// other socket takes the session over; a message added after the takeover
// must reach the new holder only; the old holder then sends a late
// removeLiveSession (must be a no-op) and late removeMessages for the new
// holder's message (must be a no-op) and for its own (an ack: honoured).
func (p *Pickup) runTakeover(ctx context.Context, env Env) (Result, error) {
	chk := &takeoverCheck{intended: map[string]int{}, notified: map[string]map[int]bool{}, seen: map[string]chan struct{}{}}
	const workers = 64
	socks := make([]*pickupConn, 2*workers)
	for i := range socks {
		c, err := dialPickup(ctx, p.url, p.key, chk.note(i))
		if err != nil {
			return Result{}, err
		}
		defer c.close()
		socks[i] = c
	}
	sender, err := dialPickup(ctx, p.url, p.key, nil)
	if err != nil {
		return Result{}, err
	}
	defer sender.close()
	prefix := namePrefix()
	var (
		next, staleHonoured, timeouts atomic.Int64
		wg                            sync.WaitGroup
		added                         sync.Map
	)
	rec := newRecorder()
	start := time.Now()
	add := func(ctx context.Context, conn string) (string, error) {
		var r struct{ MessageID string }
		err := sender.callJSON(ctx, "addMessage", map[string]any{"connectionId": conn, "recipientDids": []string{"did:r"},
			"payload": map[string]string{"ciphertext": "x"}}, &r)
		added.Store(r.MessageID, true)
		return r.MessageID, err
	}
	for w := range workers {
		wg.Go(func() {
			conn := fmt.Sprintf("%s-c%d", prefix, w)
			holder := 2 * w
			call := func(sock int, method string, params any, out any) error {
				return socks[sock].callJSON(ctx, method, params, out)
			}
			if err := call(holder, "addLiveSession", map[string]string{"connectionId": conn, "sessionId": "s0"}, nil); err != nil {
				return
			}
			for k := next.Add(1); k <= int64(p.takeovers); k = next.Add(1) {
				t0 := time.Now()
				old, nu := holder, holder^1
				before, err := add(ctx, conn)
				if err == nil {
					err = waitFor(chk.wait(before))
				}
				if err == nil {
					err = call(nu, "addLiveSession", map[string]string{"connectionId": conn, "sessionId": fmt.Sprintf("s%d", k)}, nil)
				}
				var after string
				if err == nil {
					after, err = add(ctx, conn)
					chk.mu.Lock()
					chk.intended[after] = nu
					chk.mu.Unlock()
				}
				if err == nil {
					err = waitFor(chk.wait(after))
				}
				var removed bool
				if err == nil {
					err = call(old, "removeLiveSession", map[string]string{"connectionId": conn}, &removed)
				}
				if removed {
					staleHonoured.Add(1)
				}
				if err == nil { // late acks from the old holder: its own message (honoured), the new holder's (ignored)
					err = call(old, "removeMessages", map[string]any{"connectionId": conn, "messageIds": []string{before, after}}, nil)
				}
				if err == nil {
					err = call(nu, "removeMessages", map[string]any{"connectionId": conn, "messageIds": []string{after}}, nil)
				}
				if err != nil && err.Error() == "timeout" {
					timeouts.Add(1)
				}
				rec.record(w, time.Since(t0), time.Now(), err)
				holder = nu
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	superseded, undelivered := 0, 0
	chk.mu.Lock()
	for id, sock := range chk.intended {
		for s := range chk.notified[id] {
			if s != sock {
				superseded++
			}
		}
	}
	added.Range(func(id, _ any) bool {
		if chk.notified[id.(string)] == nil {
			undelivered++
		}
		return true
	})
	chk.mu.Unlock()
	t := rec.totals()
	res := Result{Mode: ClosedLoop, Start: start.UTC(), Concurrency: workers, DurationSec: elapsed.Seconds(), ElapsedSec: elapsed.Seconds(),
		OK: t.ok, Errors: t.errs, Latency: summarise(t.hist), ErrorSamples: topErrors(t.errCounts, keepErrorSamples),
		AchievedRate: float64(t.ok) / elapsed.Seconds()}
	res.Extra = map[string]any{"takeovers": p.takeovers, "superseded_deliveries": superseded, "undelivered": undelivered,
		"stale_removes_honoured": staleHonoured.Load(), "rate_unit": "takeover cycles per second"}
	if superseded != 0 || undelivered != 0 || staleHonoured.Load() != 0 || t.errs != 0 {
		return res, fmt.Errorf("takeover: %d superseded deliveries, %d undelivered, %d stale removes honoured, %d errors",
			superseded, undelivered, staleHonoured.Load(), t.errs)
	}
	return res, nil
}

func waitFor(ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("timeout")
	}
}
