package device

import (
	"context"
	"sync"
	"time"
)

// replies makes ingestion idempotent per uplink Key within a window: the
// first uplink with a key is processed, later ones (CoAP retransmissions, the
// same uplink from a new source port) wait for it and get the same reply
// without being stored again. The store's unique key covers what falls out
// of the window (and other replicas); this cache is what makes the reply
// identical. Bounded by count and age: entries leave in insertion order.
//
// An uplink being processed is a *reply its duplicates wait on; once it
// finished, its answer moves into a map without pointers, which the GC
// never scans: keys name the device by a number (devs), and the rare
// answers that carry something (a configuration command) are kept aside in
// dls. At 5,000 uplinks/s the window holds its 262,144 keys; as objects
// (a reply each, a string in each key) they were a fifth of what every GC
// cycle marked.
type replies struct {
	ttl     time.Duration
	max     int
	mu      sync.Mutex
	devs    map[string]uint32 // device id -> its number in keys; authenticated devices only
	pending map[rKey]*reply
	done    map[rKey]answer
	dls     map[rKey]Downlink // the answers in done that are not empty
	order   []rKey            // FIFO ring of insertion order
	head    int
	n       int
}

// rKey is a Key with the device as a number.
type rKey struct {
	dev, boot, count uint32
}

// A reply's done channel is made only when a follower waits (duplicates
// are rare, and a channel per uplink held for the whole window was a good
// part of the live heap); finished is set under replies.mu.
type reply struct {
	done     chan struct{}
	finished bool
	at       time.Time
	dl       Downlink
	err      error
}

// answer is a finished reply in the window. Only successes are kept.
type answer struct {
	at int64 // unix nanos
	dl bool  // the answer is in dls; else it is the empty Downlink
}

func newReplies(ttl time.Duration, max int) *replies {
	// The ring starts small and doubles up to max: an idle server does not
	// hold max keys' worth of memory.
	return &replies{ttl: ttl, max: max, devs: map[string]uint32{}, pending: map[rKey]*reply{}, done: map[rKey]answer{},
		dls: map[rKey]Downlink{}, order: make([]rKey, min(max, 64))}
}

// key numbers k's device, the first time with the next number. Called
// with r.mu held.
func (r *replies) key(k Key) rKey {
	d, ok := r.devs[k.DeviceID]
	if !ok {
		d = uint32(len(r.devs))
		r.devs[k.DeviceID] = d
	}
	return rKey{d, k.BootCount, k.UplinkCount}
}

// begin returns the entry for k and whether the caller leads (must call
// finish). A follower waits on entry.done.
func (r *replies) begin(key Key, now time.Time) (*reply, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expire(now)
	k := r.key(key)
	if e, ok := r.pending[k]; ok {
		if e.done == nil {
			e.done = make(chan struct{})
		}
		return e, false
	}
	if a, ok := r.done[k]; ok {
		e := &reply{finished: true, at: time.Unix(0, a.at)}
		if a.dl {
			e.dl = r.dls[k]
		}
		return e, false
	}
	if r.n == r.max {
		r.pop()
	} else if r.n == len(r.order) {
		out := make([]rKey, min(2*len(r.order), r.max))
		for i := range r.n {
			out[i] = r.order[(r.head+i)%len(r.order)]
		}
		r.order, r.head = out, 0
	}
	e := &reply{at: now}
	r.pending[k] = e
	r.order[(r.head+r.n)%len(r.order)] = k
	r.n++
	return e, true
}

// finish publishes the leader's outcome. A failed uplink is forgotten, so a
// retransmission is processed afresh rather than answered with the failure.
func (r *replies) finish(key Key, e *reply, dl Downlink, err error) {
	r.mu.Lock()
	e.dl, e.err, e.finished = dl, err, true
	if k := r.key(key); r.pending[k] == e { // still in the window
		delete(r.pending, k)
		if err == nil {
			a := answer{at: e.at.UnixNano(), dl: dl != Downlink{}}
			if a.dl {
				r.dls[k] = dl
			}
			r.done[k] = a
		}
	}
	done := e.done
	r.mu.Unlock()
	if done != nil {
		close(done)
	}
}

func (r *replies) wait(ctx context.Context, e *reply) (Downlink, error) {
	r.mu.Lock()
	finished, done := e.finished, e.done
	r.mu.Unlock()
	if finished {
		return e.dl, e.err
	}
	select {
	case <-done:
		return e.dl, e.err
	case <-ctx.Done():
		return Downlink{}, ctx.Err()
	}
}

// len is the number of keys in the window.
func (r *replies) len() int { return len(r.pending) + len(r.done) }

func (r *replies) expire(now time.Time) {
	for r.n > 0 {
		k := r.order[r.head]
		if a, ok := r.done[k]; ok && now.UnixNano()-a.at < int64(r.ttl) {
			return
		}
		if e, ok := r.pending[k]; ok && now.Sub(e.at) < r.ttl {
			return
		}
		r.pop()
	}
}

func (r *replies) pop() {
	// A key that failed and was begun again has a second ring slot; the
	// older slot then evicts the newer entry early, which only shortens its
	// window (the store still dedupes).
	k := r.order[r.head]
	if r.done[k].dl {
		delete(r.dls, k)
	}
	delete(r.done, k)
	delete(r.pending, k)
	r.order[r.head] = rKey{}
	r.head = (r.head + 1) % len(r.order)
	r.n--
}
