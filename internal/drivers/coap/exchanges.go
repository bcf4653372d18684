package coap

import (
	"net/netip"
	"sync"
	"time"
)

// exchanges is the UDP message-layer state: for each (peer, message id) seen
// within the exchange lifetime, the encoded answer (or nil while it is being
// computed), so a retransmitted CON or NON is answered with the same bytes
// and processed once (RFC 7252 §4.5). It replaces go-coap's per-peer
// connection objects and their response caches, which are scanned in full
// for expiry (plgd-dev/go-coap#586) and cost kilobytes and goroutines per
// peer. Entries expire in insertion order (a FIFO ring), so expiry is O(1)
// per datagram; a peer is a "session" while it has entries, so idle
// sessions vanish after the lifetime and a flood of new source addresses is
// bounded by max, which evicts the oldest.
//
// Nothing in the map, the per-peer counts or the ring holds a pointer, so
// the GC allocates them as memory it never scans: at 5,000 uplinks/s the
// lifetime holds a few hundred thousand exchanges, and as objects (an
// exchange, its answer, a key with netip's zone pointer) they were a third
// of what every GC cycle marked. Answers up to exInline bytes (an empty
// downlink's ACK) live inside the entry; longer ones (a configuration
// command) in bigs, the one map with pointers, holding only those.
type exchanges struct {
	ttl   time.Duration
	max   int
	mu    sync.Mutex
	m     map[exKey]exchange
	bigs  map[exKey][]byte  // answers longer than exInline
	peers map[peerKey]int32 // live entries per peer
	ring  []exKey
	head  int
	n     int
}

// peerKey is a source address and port without the IPv6 zone (a pointer
// in netip.Addr): two link-local peers differing only in zone share one.
type peerKey struct {
	ip   [16]byte
	port uint16
}

func peerKeyOf(a netip.AddrPort) peerKey { return peerKey{a.Addr().As16(), a.Port()} }

type exKey struct {
	peer peerKey
	mid  uint16
}

// exInline is the longest answer kept inside its exchange: an empty
// downlink's ACK (header, token) fits, a configuration command does not.
const exInline = 32

type exchange struct {
	at    int64 // unix nanos
	n     uint8 // length of the answer in small
	big   bool  // the answer is in bigs
	small [exInline]byte
}

func newExchanges(ttl time.Duration, max int) *exchanges {
	// The ring starts small and doubles up to max: an idle server does not
	// hold max keys' worth of memory.
	return &exchanges{ttl: ttl, max: max, m: make(map[exKey]exchange), bigs: make(map[exKey][]byte), peers: make(map[peerKey]int32), ring: make([]exKey, min(max, 64))}
}

// claim returns (nil, true) when the caller is the first to see k and must
// answer it (then call done); otherwise the cached answer, which is nil while
// the first copy is still being processed (the duplicate is then dropped:
// the peer retransmits again if needed).
func (x *exchanges) claim(k exKey, now time.Time) (resp []byte, first bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.expire(now.UnixNano())
	if e, ok := x.m[k]; ok {
		switch {
		case e.big:
			return x.bigs[k], false
		case e.n > 0:
			return append([]byte(nil), e.small[:e.n]...), false
		}
		return nil, false // still being processed, or no answer
	}
	if x.n == x.max {
		x.pop()
	} else if x.n == len(x.ring) {
		x.ring, x.head = grow(x.ring, x.head, x.n, x.max), 0
	}
	x.m[k] = exchange{at: now.UnixNano()}
	x.peers[k.peer]++
	x.ring[(x.head+x.n)%len(x.ring)] = k
	x.n++
	return nil, true
}

func (x *exchanges) done(k exKey, resp []byte) {
	x.mu.Lock()
	if e, ok := x.m[k]; ok {
		if len(resp) > exInline {
			e.big, x.bigs[k] = true, resp
		} else {
			e.n = uint8(copy(e.small[:], resp))
		}
		x.m[k] = e
	}
	x.mu.Unlock()
}

func (x *exchanges) expire(now int64) {
	for x.n > 0 {
		e, ok := x.m[x.ring[x.head]]
		if ok && now-e.at < int64(x.ttl) {
			return
		}
		x.pop()
	}
}

func (x *exchanges) pop() {
	k := x.ring[x.head]
	if e, ok := x.m[k]; ok {
		if e.big {
			delete(x.bigs, k)
		}
		delete(x.m, k)
		if x.peers[k.peer]--; x.peers[k.peer] <= 0 {
			delete(x.peers, k.peer)
		}
	}
	x.ring[x.head] = exKey{}
	x.head = (x.head + 1) % len(x.ring)
	x.n--
}

// sessions is the number of peers with live state, after expiring.
func (x *exchanges) sessions() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.expire(time.Now().UnixNano())
	return len(x.peers)
}

// grow returns ring with its n entries from head moved to the front of a
// ring twice as long (at most max).
func grow[T any](ring []T, head, n, max int) []T {
	out := make([]T, min(2*len(ring), max))
	for i := range n {
		out[i] = ring[(head+i)%len(ring)]
	}
	return out
}
