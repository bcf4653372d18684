package livelogclient

import (
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with full jitter: the n-th retry (from 0)
// waits a uniformly random duration in [0, min(Max, Base·2ⁿ)). Full jitter
// spreads a crowd of clients that lost the same server, so they do not
// come back in one wave.
type Backoff struct {
	Base time.Duration // default 100ms
	Max  time.Duration // default 10s
	// Rand returns a float in [0, 1); nil uses math/rand/v2.
	Rand func() float64
}

// Ceiling is the upper bound of the n-th delay, before jitter.
func (b Backoff) Ceiling(n int) time.Duration {
	base, ceil := b.Base, b.Max
	if base <= 0 {
		base = 100 * time.Millisecond
	}
	if ceil <= 0 {
		ceil = 10 * time.Second
	}
	if ceil < base {
		ceil = base
	}
	d := base
	for i := 0; i < n && d < ceil; i++ {
		d *= 2
	}
	return min(d, ceil)
}

// Delay is the n-th delay, jittered.
func (b Backoff) Delay(n int) time.Duration {
	r := b.Rand
	if r == nil {
		r = rand.Float64
	}
	return time.Duration(r() * float64(b.Ceiling(n)))
}
