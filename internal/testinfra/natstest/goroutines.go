package natstest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// serverFrames marks goroutines of an embedded nats-server. They come and
// go on the server's schedule (one set per stream, per durable consumer),
// so they say nothing about leaks in the client code under test.
const serverFrames = "nats-server/v2/server."

// ClientGoroutines returns the stacks of all goroutines not belonging to a
// nats-server running in this process.
func ClientGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if !strings.Contains(g, serverFrames) {
			out = append(out, g)
		}
	}
	return out
}

// WaitClientGoroutines fails t unless the client goroutines drop to at most
// n within timeout; goroutines that were told to stop may need a moment.
func WaitClientGoroutines(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		gs := ClientGoroutines()
		if len(gs) <= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines remain, want at most %d:\n\n%s", len(gs), n, strings.Join(gs, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
