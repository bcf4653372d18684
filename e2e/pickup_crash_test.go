package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// kill -9 at random instants while 64 clients add messages: after every
// restart on the same data dir, every acknowledged message is there. Full
// size (100,000 messages, 10 kills) with LIVEPLANE_PICKUP_CRASH_FULL=1, as
// BENCHMARKS.md quotes; 20,000 and 4 kills otherwise.
func TestPickupKill9LosesNoAcknowledgedMessage(t *testing.T) {
	total, kills := 20_000, 4
	if os.Getenv("LIVEPLANE_PICKUP_CRASH_FULL") == "1" {
		total, kills = 100_000, 10
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	srv := startServe(t, dir, nil, "--pickup", addr)
	key := srv.accountKey(t, "crash")

	var (
		acked   sync.Map // message id -> queue
		nAcked  atomic.Int64
		failed  atomic.Int64
		wg      sync.WaitGroup
		stopped = make(chan struct{})
	)
	// Paced so the adds span every kill: at most total*elapsed/span so far.
	span := time.Duration(kills)*700*time.Millisecond + time.Second
	began := time.Now()
	allowed := func() int64 {
		return min(int64(total), int64(float64(total)*float64(time.Since(began))/float64(span))+64)
	}
	for w := range 64 {
		wg.Go(func() {
			queue := fmt.Sprintf("q%d", w%16)
			var c *mpr
			for nAcked.Load() < int64(total) {
				if nAcked.Load() >= allowed() {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				if c == nil {
					var err error
					if c, err = dialMPR(t, addr, key); err != nil {
						time.Sleep(20 * time.Millisecond) // the server is restarting
						continue
					}
				}
				var r struct{ MessageID string }
				err := c.call("addMessage", map[string]any{"connectionId": queue, "recipientDids": []string{"did:r"},
					"payload": map[string]string{"ciphertext": strconv.Itoa(w)}}, &r)
				if err != nil {
					failed.Add(1) // unacknowledged: may or may not be stored
					c.ws.CloseNow()
					c = nil
					continue
				}
				acked.Store(r.MessageID, queue)
				nAcked.Add(1)
			}
		})
	}
	go func() { wg.Wait(); close(stopped) }()
	for k := range kills {
		time.Sleep(time.Duration(300+rand.IntN(600)) * time.Millisecond)
		before := nAcked.Load()
		if before >= int64(total) {
			t.Fatalf("kill #%d would come after the last add: the pacing is off", k+1)
		}
		_ = srv.cmd.Process.Kill()
		srv.waitExit(t, 10*time.Second)
		srv = startServe(t, dir, nil, "--pickup", addr)
		t.Logf("kill -9 #%d after %d acknowledged adds", k+1, before)
	}
	select {
	case <-stopped:
	case <-time.After(3 * time.Minute):
		t.Fatalf("only %d of %d adds acknowledged after 3 minutes", nAcked.Load(), total)
	}

	// Everything acknowledged is stored, exactly once.
	c := mustDialMPR(t, addr, key)
	stored := map[string]int{}
	for q := range 16 {
		for range total/1000 + 2 {
			var msgs []struct{ ID string }
			c.must("takeFromQueue", map[string]any{"connectionId": fmt.Sprintf("q%d", q), "limit": 1000, "deleteMessages": true}, &msgs)
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				stored[m.ID]++
			}
		}
	}
	lost, dup := 0, 0
	acked.Range(func(id, _ any) bool {
		if stored[id.(string)] == 0 {
			lost++
		}
		return true
	})
	for _, n := range stored {
		if n > 1 {
			dup++
		}
	}
	t.Logf("%d kills: %d adds acknowledged, %d stored, %d calls failed at a kill (their messages may or may not be stored)",
		kills, nAcked.Load(), len(stored), failed.Load())
	if lost != 0 || dup != 0 {
		t.Fatalf("%d acknowledged messages lost, %d stored twice", lost, dup)
	}
}
