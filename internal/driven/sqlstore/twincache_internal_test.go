package sqlstore

import (
	"context"
	"testing"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// A read that missed the cache and queried the old row must not put it
// back after a write committed meanwhile: the write's stripe moved on, so
// the fill is dropped and the next read sees the write.
func TestTwinCacheFillLosesToConcurrentWrite(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	const id, acc = "01a20a04-0000-7000-8000-000000000001", "01a20a04-0000-7000-8000-0000000000aa"
	put := func(v string) {
		t.Helper()
		if err := s.update(ctx, func(tx *Tx) error {
			return tx.PutTwin(ctx, device.Twin{DeviceID: id, AccountID: acc, Version: 1, Desired: device.Values{"K": {Value: v}}})
		}); err != nil {
			t.Fatal(err)
		}
	}
	put("old")
	s.twinCache = newTwinCache(false) // forget the write-through: the next read misses
	s.twinCache.testFill = func() {
		s.twinCache.testFill = nil
		put("new") // commits between the missed read's query and its fill
	}
	d := s.Devices()
	if tw, _, err := d.TwinConfig(ctx, id); err != nil || tw.Desired["K"].Value != "old" {
		t.Fatalf("racing read: %+v %v", tw.Desired, err)
	}
	if tw, _, err := d.TwinConfig(ctx, id); err != nil || tw.Desired["K"].Value != "new" {
		t.Fatalf("after the race: %+v %v (a stale fill won)", tw.Desired, err)
	}
}

// Hits are copies: a caller changing what it got does not change the cache.
func TestTwinCacheHitsAreCopies(t *testing.T) {
	c := newTwinCache(false)
	tw := device.Twin{DeviceID: "d", AccountID: "a", Desired: device.Values{"K": {Value: "v"}}, Rejected: map[string]string{"X": "no"}}
	c.fill(c.token(), tw, device.Defaults{AccountID: "a", Values: device.Values{"D": {Value: "1"}}})
	tw.Desired["K"] = device.Entry{Value: "changed by the filler"}
	got, def, ok := c.get("d")
	if !ok || got.Desired["K"].Value != "v" {
		t.Fatalf("fill kept the caller's map: %+v %v", got.Desired, ok)
	}
	got.Desired["K"], got.Rejected["X"], def.Values["D"] = device.Entry{Value: "x"}, "x", device.Entry{Value: "x"}
	again, def2, _ := c.get("d")
	if again.Desired["K"].Value != "v" || again.Rejected["X"] != "no" || def2.Values["D"].Value != "1" {
		t.Fatalf("a hit shared maps with the cache: %+v %+v %+v", again.Desired, again.Rejected, def2.Values)
	}
}
