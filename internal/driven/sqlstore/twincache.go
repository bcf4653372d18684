package sqlstore

import (
	"hash/maphash"
	"maps"
	"sync"

	"github.com/liveplane/liveplane/internal/domain/device"
)

// twinCache is the store's cache of device twins and account defaults:
// every uplink reads its device's twin and its account's defaults
// (device.Service.Pending), and a device in sync changes neither, so in the
// steady state the read was a query and two JSON decodes for nothing (about
// 15 % of serve's CPU at 5,000 uplinks/s on SQLite; on PostgreSQL a round
// trip in every uplink's path as well).
//
// Why it cannot go stale on SQLite (write-through): the cache sees every
// change to those rows.
//   - One process writes a SQLite file: serve (and every other command that
//     opens the store) holds the data directory's exclusive lock, and every
//     write in this process goes through the funnel.
//   - The only statements that change the rows are Tx.PutTwin,
//     Tx.PutDefaults, Tx.LockDefaults (the empty row) and Tx.DeleteDevice.
//     Each records what it wrote on its Tx; the funnel applies that to the
//     cache after the group commit, before the use case's caller is
//     answered (so the next read after an operator's write sees it), and
//     drops the entries instead when the use case or the commit failed.
//   - A read that missed fills the cache only if no write touched its keys
//     while it queried (a generation per stripe of keys), so a fill can
//     never put back a value older than a write-through.
//   - Nothing survives a restart; reads inside a write transaction still go
//     to the database (earlier savepoints of the group are not committed).
//
// On PostgreSQL (shared) other replicas, and anything else with access,
// write the same rows. A trigger announces every change (migration 0010);
// twinListener hears it and drops the key, which also moves its stripe, so
// a read that may have seen the old row does not fill. The cache answers
// only while the listener is connected: it starts off, and each time the
// connection is lost or made it is emptied. This process's own commits drop
// their keys too, rather than storing what they wrote: a later commit by
// another replica can be announced before that store would happen. A change
// made elsewhere is therefore seen within the notification's delivery,
// typically well under a millisecond on a local network; a decision to
// write is taken again inside the write transaction on fresh rows either
// way (device.Service.Pending).
//
// Callers modify the twins they get, so every hit is a copy.
type twinCache struct {
	mu       sync.Mutex
	twins    map[string]device.Twin
	defaults map[string]device.Defaults // by account; the zero value when the account has none
	gens     [twinCacheStripes]uint64
	seed     maphash.Seed
	max      int
	// shared: other processes write the rows (PostgreSQL). Commits drop
	// their keys instead of storing the rows, and the cache is off until
	// the listener says it hears every change.
	shared bool
	off    bool
	// testFill, when set, runs between a missed read's query and its fill.
	testFill func()
}

const (
	twinCacheStripes = 64
	// twinCacheMax bounds the twins held (a twin is a few KiB with its
	// configuration documents); beyond it an arbitrary entry makes room.
	twinCacheMax = 100_000
)

// newTwinCache returns SQLite's write-through cache, or (shared) an
// invalidated one that is off until setOn.
func newTwinCache(shared bool) *twinCache {
	return &twinCache{twins: map[string]device.Twin{}, defaults: map[string]device.Defaults{}, seed: maphash.MakeSeed(), max: twinCacheMax,
		shared: shared, off: shared}
}

func (c *twinCache) index(key string) uint64 { return maphash.String(c.seed, key) % twinCacheStripes }

func (c *twinCache) stripe(key string) *uint64 { return &c.gens[c.index(key)] }

// get returns copies of a device's twin and its account's defaults.
func (c *twinCache) get(deviceID string) (device.Twin, device.Defaults, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.twins[deviceID]
	if !ok || c.off {
		return device.Twin{}, device.Defaults{}, false
	}
	def, ok := c.defaults[t.AccountID]
	if !ok {
		return device.Twin{}, device.Defaults{}, false
	}
	return cloneTwin(t), cloneDefaults(def), true
}

// fillToken is what a missed read remembers before it queries (the
// account is not known until the row is read, so every stripe).
type fillToken [twinCacheStripes]uint64

func (c *twinCache) token() fillToken {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gens
}

// fill stores what a read found, unless a write touched the device's or the
// account's stripe since tok was taken. The caller keeps t and def; the
// cache keeps copies.
func (c *twinCache) fill(tok fillToken, t device.Twin, def device.Defaults) {
	if c.testFill != nil {
		c.testFill()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || *c.stripe(t.DeviceID) != tok[c.index(t.DeviceID)] || *c.stripe(t.AccountID) != tok[c.index(t.AccountID)] {
		return
	}
	c.putTwin(cloneTwin(t))
	c.defaults[t.AccountID] = cloneDefaults(def)
}

func (c *twinCache) putTwin(t device.Twin) {
	if _, ok := c.twins[t.DeviceID]; !ok && len(c.twins) >= c.max {
		for k := range c.twins {
			delete(c.twins, k)
			break
		}
	}
	c.twins[t.DeviceID] = t
}

// twinWrite is one change a Tx made to the cached rows: exactly one field
// is set.
type twinWrite struct {
	row      *twinRow
	defaults *defaultsRow
	deleted  string
	drop     string // a write not mirrored (failed, or only made the row exist): drop this key
}

type defaultsRow struct {
	accountID        string
	version, updated int64
	vals             string
}

func (w twinWrite) key() string {
	switch {
	case w.row != nil:
		return w.row.deviceID
	case w.defaults != nil:
		return w.defaults.accountID
	case w.deleted != "":
		return w.deleted
	}
	return w.drop
}

// apply runs after a use case's writes committed (ok) or did not: on
// SQLite a committed write is stored as a read of the row would return it;
// anything else, and every write on a shared cache, drops the keys. Either
// way the keys' stripes move on, so reads that started before cannot fill.
func (c *twinCache) apply(writes []twinWrite, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range writes {
		*c.stripe(w.key())++
		switch {
		case !ok || w.drop != "" || c.shared:
			delete(c.twins, w.key())
			delete(c.defaults, w.key()) // device and account ids are both UUIDs: no clash
		case w.deleted != "":
			delete(c.twins, w.deleted)
		case w.row != nil:
			if t, err := w.row.twin(); err == nil {
				c.putTwin(t)
			} else {
				delete(c.twins, w.row.deviceID)
			}
		case w.defaults != nil:
			d := w.defaults
			vals, err := decodeValues(d.vals)
			if err != nil {
				delete(c.defaults, d.accountID)
				continue
			}
			c.defaults[d.accountID] = device.Defaults{AccountID: d.accountID, Version: uint64(d.version), Values: vals, UpdatedAt: fromMicros(d.updated)}
		}
	}
}

// invalidate drops a device's twin or an account's defaults that another
// writer changed; "*" drops everything.
func (c *twinCache) invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if key == "*" {
		c.resetLocked()
		return
	}
	*c.stripe(key)++
	delete(c.twins, key)
	delete(c.defaults, key)
}

// setOn turns a shared cache on (its listener hears every change from now
// on) or off (it may have missed some). Either way it starts empty, and
// reads that began before cannot fill.
func (c *twinCache) setOn(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off = !on
	c.resetLocked()
}

func (c *twinCache) resetLocked() {
	clear(c.twins)
	clear(c.defaults)
	for i := range c.gens {
		c.gens[i]++
	}
}

// wrote records a change to cached rows on the Tx.
func (t *Tx) wrote(w twinWrite, err error) {
	if t.s.twinCache == nil {
		return
	}
	if err != nil {
		w = twinWrite{drop: w.key()}
	}
	if len(t.twinWrites) == 0 {
		// The cache learns the use case's outcome before its caller does.
		c := t.s.twinCache
		t.afterEnd(func(committed bool) { c.apply(t.twinWrites, committed) })
	}
	t.twinWrites = append(t.twinWrites, w)
}

func cloneTwin(t device.Twin) device.Twin {
	t.Desired, t.Reported = maps.Clone(t.Desired), maps.Clone(t.Reported)
	t.Invalid, t.Rejected = maps.Clone(t.Invalid), maps.Clone(t.Rejected)
	return t
}

func cloneDefaults(d device.Defaults) device.Defaults {
	d.Values = maps.Clone(d.Values)
	return d
}
