package device

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// gatedReader answers Device with its current device after the test
// opens the gate (when gated), counting the reads.
type gatedReader struct {
	reads atomic.Int32
	mu    sync.Mutex
	d     Device
	err   error
	gate  chan struct{} // nil: answer at once
}

func (r *gatedReader) Device(ctx context.Context, id string) (Device, error) {
	r.reads.Add(1)
	r.mu.Lock()
	gate := r.gate
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d, r.err
}

func (r *gatedReader) set(d Device, err error, gate chan struct{}) {
	r.mu.Lock()
	r.d, r.err, r.gate = d, err, gate
	r.mu.Unlock()
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestCache(r *gatedReader) (*deviceCache, *testClock) {
	clk := &testClock{t: time.Unix(1_800_000_000, 0)}
	c := newDeviceCache(r, 4*time.Second, 16)
	c.now = clk.now
	return c, clk
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// An uplink finding its device's entry three quarters through its ttl is
// answered from it at once and starts one background re-read; the entry
// is then fresh again, so the device never waits for the database.
func TestDeviceCacheRefreshesAhead(t *testing.T) {
	ctx := context.Background()
	r := &gatedReader{d: Device{ID: "d", AccountID: "a1"}}
	c, clk := newTestCache(r)
	if _, err := c.get(ctx, "d"); err != nil || r.reads.Load() != 1 {
		t.Fatalf("first get: %v, %d reads", err, r.reads.Load())
	}
	clk.add(2 * time.Second)
	c.get(ctx, "d")
	if r.reads.Load() != 1 {
		t.Fatal("a fresh entry was read again before three quarters of its ttl")
	}

	gate := make(chan struct{})
	r.set(Device{ID: "d", AccountID: "a2"}, nil, gate)
	clk.add(time.Second + time.Millisecond) // 3.001 s of 4
	for range 10 {
		d, err := c.get(ctx, "d") // would block on the gate if read in the path
		if err != nil || d.AccountID != "a1" {
			t.Fatalf("get while refreshing: %+v %v", d, err)
		}
	}
	waitFor(t, "no background re-read", func() bool { return r.reads.Load() == 2 })
	close(gate)
	waitFor(t, "the re-read did not refresh the entry", func() bool {
		d, _ := c.get(ctx, "d")
		return d.AccountID == "a2"
	})
	if n := r.reads.Load(); n != 2 {
		t.Fatalf("%d reads, want 2: one background re-read for many uplinks", n)
	}
	clk.add(2 * time.Second) // 5 s after the first read, 2 s after the re-read
	c.get(ctx, "d")
	if n := r.reads.Load(); n != 2 {
		t.Fatalf("the re-read's entry was not fresh from its own time: %d reads", n)
	}
}

// A device disabled on this replica while a re-read is in flight is not
// brought back by that read's (older) answer.
func TestDeviceCacheForgetBeatsInflightRead(t *testing.T) {
	ctx := context.Background()
	r := &gatedReader{d: Device{ID: "d", AccountID: "old"}}
	c, clk := newTestCache(r)
	c.get(ctx, "d")
	gate := make(chan struct{})
	r.set(Device{ID: "d", AccountID: "old"}, nil, gate)
	clk.add(3*time.Second + time.Millisecond)
	c.get(ctx, "d")
	waitFor(t, "no background re-read", func() bool { return r.reads.Load() == 2 })
	c.forget("d") // the device changed here; the read in flight began before
	close(gate)
	waitFor(t, "re-read not finished", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.refreshes == 0
	})
	r.set(Device{ID: "d", AccountID: "new"}, nil, nil)
	if d, _ := c.get(ctx, "d"); d.AccountID != "new" {
		t.Fatalf("served %q after forget: an older read put its answer back", d.AccountID)
	}
}

// Past its ttl an entry is read in the uplink's path; when the database
// is down the last entry is served, and a failed background re-read keeps
// it.
func TestDeviceCacheExpiredAndStoreDown(t *testing.T) {
	ctx := context.Background()
	r := &gatedReader{d: Device{ID: "d", AccountID: "a1"}}
	c, clk := newTestCache(r)
	c.get(ctx, "d")
	down := domain.Errorf(domain.CodeUnavailable, "test", "database down")
	r.set(Device{}, down, nil)
	clk.add(3*time.Second + time.Millisecond)
	c.get(ctx, "d")
	waitFor(t, "no background re-read", func() bool { return r.reads.Load() == 2 })
	clk.add(2 * time.Second) // past ttl
	if d, err := c.get(ctx, "d"); err != nil || d.AccountID != "a1" || r.reads.Load() != 3 {
		t.Fatalf("expired entry with the store down: %+v %v, %d reads", d, err, r.reads.Load())
	}
	r.set(Device{ID: "d", AccountID: "a2"}, nil, nil)
	if d, _ := c.get(ctx, "d"); d.AccountID != "a2" || r.reads.Load() != 4 {
		t.Fatalf("expired entry once the store is back: %+v, %d reads", d, r.reads.Load())
	}
}
