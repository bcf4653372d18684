package device

import (
	"context"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// deviceCache keeps what authentication needs in memory, so an uplink costs
// no database read, and so devices keep being recognised while the database
// is down (the entry is then served stale). Entries are fresh for ttl; a
// disable or delete on this replica forgets the entry at once, other
// replicas notice within ttl. Misses are cached too (for ttl), so a flood of
// unknown ids does not become a flood of queries. The map is bounded: when
// full, arbitrary entries are dropped (they are only a cache).
type deviceCache struct {
	store Store
	ttl   time.Duration
	max   int
	mu    sync.Mutex
	m     map[string]cached
}

type cached struct {
	d     Device
	found bool
	at    time.Time
}

func newDeviceCache(store Store, ttl time.Duration, max int) *deviceCache {
	return &deviceCache{store: store, ttl: ttl, max: max, m: make(map[string]cached)}
}

// get returns the device, CodeNotFound, or CodeUnavailable when the store is
// down and nothing (not even a stale entry) is known.
func (c *deviceCache) get(ctx context.Context, id string) (Device, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e.result()
	}
	d, err := c.store.Device(ctx, id)
	switch {
	case err == nil:
		c.put(id, cached{d: d, found: true, at: now})
		return d, nil
	case domain.Is(err, domain.CodeNotFound):
		c.put(id, cached{at: now})
		return Device{}, err
	case ok: // the store failed: serve what we knew
		return e.result()
	}
	return Device{}, err
}

func (e cached) result() (Device, error) {
	if !e.found {
		return Device{}, domain.Errorf(domain.CodeNotFound, "device.cache", "no such device")
	}
	return e.d, nil
}

func (c *deviceCache) put(id string, e cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= c.max {
		n := 0
		for k := range c.m { // map order is random: drop ~1/16 of the entries
			delete(c.m, k)
			if n++; n >= c.max/16+1 {
				break
			}
		}
	}
	c.m[id] = e
}

func (c *deviceCache) forget(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}
