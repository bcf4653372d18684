package pickupgw_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/drivers/pickupgw"
)

// A client that sends without reading is limited (at most MaxInFlight
// calls in progress, then its frames wait in TCP); the server and its other
// clients carry on.
func TestFloodingClientIsLimitedNotTheServer(t *testing.T) {
	e := newEnv(t, pickupgw.Options{MaxInFlight: 16}, pickup.Options{})
	flooder := e.dial(t)
	other := e.dial(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var sent atomic.Int64
	go func() {
		for i := range 50_000 {
			frame := fmt.Sprintf(`{"jsonrpc":"2.0","method":"addMessage","params":{"connectionId":"flood","recipientDids":["d"],"payload":{"ct":"%0900d"}},"id":%d}`, i, i+1_000_000)
			if flooder.ws.Write(ctx, websocket.MessageText, []byte(frame)) != nil {
				return
			}
			sent.Add(1)
		}
	}()
	base := runtime.NumGoroutine()
	peak, slowest := 0, time.Duration(0)
	for range 50 {
		t0 := time.Now()
		other.ok("ping", nil)
		slowest = max(slowest, time.Since(t0))
		peak = max(peak, runtime.NumGoroutine()-base)
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("flooder sent %d frames; other client's slowest ping %v; peak extra goroutines %d", sent.Load(), slowest, peak)
	if slowest > time.Second {
		t.Errorf("another client waited %v for a ping during the flood", slowest)
	}
	if peak > 200 {
		t.Errorf("the flood grew the server by %d goroutines; in-progress calls are capped at 16 per socket", peak)
	}
}
