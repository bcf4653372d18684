package livews_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/livelog"
	"github.com/liveplane/liveplane/internal/drivers/livews"
)

// BenchmarkFanOut: one device, 100 subscribers over real loopback
// WebSockets (clients in this process too), lines handed to the hub as the
// feed does. Reports delivered lines per second.
//
//	go test -run XXX -bench FanOut -benchtime 20000x ./internal/drivers/livews
func BenchmarkFanOut(b *testing.B) {
	const subs, window = 100, 128
	e := newEnv(b, livews.Options{QueueFrames: 4 * window})
	var got atomic.Int64
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients := make([]*client, subs)
	for i := range clients {
		clients[i] = e.dial(b, "deviceId="+e.dev, e.key)
	}
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, _, err := c.ws.Read(ctx); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	}
	hello := clients[0].hello
	body := []byte(`{"deviceId":"` + e.dev + `","timestamp":"2026-11-23T15:00:00.123456789Z","type":"uplink","message":"Received uplink #7","data":{"uplinkCount":7,"temperatures":[21.5,-3.75]}}`)
	b.ResetTimer()
	start := time.Now()
	prev := hello.LastSeq
	for i := range b.N {
		seq := prev + 1
		more := i%window != window-1 && i != b.N-1 // bursts, as the feed reports them
		e.srv.Deliver(livelog.Entry{DeviceID: e.dev, Seq: seq, Prev: prev, Epoch: hello.Epoch, Body: body, More: more})
		prev = seq
		if i%window == window-1 || i == b.N-1 {
			for got.Load() < int64(i+1-window/2)*subs {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	for got.Load() < int64(b.N)*subs {
		if e.srv.Subscribers() < subs {
			b.Fatalf("a subscriber was closed (%d left)", e.srv.Subscribers())
		}
		time.Sleep(50 * time.Microsecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*subs)/el.Seconds(), "delivered/s")
	cancel()
	for _, c := range clients {
		c.ws.CloseNow()
	}
	wg.Wait()
}
