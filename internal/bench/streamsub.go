package bench

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/liveplane/liveplane/internal/livelogclient"
)

// subscriber is one WebSocket follower of a device (livelogclient), with
// what it saw: which uplink numbers arrived and how often, gaps, and, in a
// storm, how long it took to come back.
type subscriber struct {
	dev    string
	hot    bool
	unique atomic.Int64 // distinct hot uplinks received
	lines  atomic.Int64 // all lines received
	live   chan struct{}
	once   sync.Once

	// Touched only on the subscriber's goroutine, read after it ended.
	seen      []uint8 // by uplink number: times received
	dups      int64
	gaps      int64
	orderGaps int64
	closes    int64 // own connection dropped
	client    *livelogclient.Client

	dropAt atomic.Int64 // storm: unix ns of the drop being recovered from
	delay  time.Duration
}

// subFleet runs subscribers and merges their latencies.
type subFleet struct {
	subs        []*subscriber
	measureFrom atomic.Int64 // unix ns: lines stamped earlier are warm-up
	split       atomic.Int64 // unix ns: slow mode, lines stamped later go to after
	mu          sync.Mutex
	lat, after  *hdrhistogram.Histogram
	back        *hdrhistogram.Histogram
	inWindow    atomic.Int64 // lines stamped in the measured period
	conns       *connTracker
	wg          sync.WaitGroup
	cancel      context.CancelFunc
}

func newSubFleet() *subFleet {
	return &subFleet{lat: newHistogram(), after: newHistogram(), back: newHistogram(), conns: &connTracker{conns: map[*trackedConn]struct{}{}}}
}

// start connects n subscribers, round-robin over devs (devs[0] is the hot
// device when hot), at most 64 handshakes at a time, and waits for every
// hello.
func (f *subFleet) start(ctx context.Context, url, path, token string, devs []string, n int, hot bool, backoff livelogclient.Backoff) error {
	ctx, f.cancel = context.WithCancel(ctx)
	tr := &http.Transport{DialContext: f.conns.dial, Proxy: nil, DisableCompression: true}
	hc := &http.Client{Transport: tr}
	sem := make(chan struct{}, 64)
	for i := range n {
		s := &subscriber{dev: devs[i%len(devs)], hot: hot, live: make(chan struct{})}
		c, err := livelogclient.New(livelogclient.Options{URL: url, Path: path, DeviceID: s.dev, Token: token, HTTPClient: hc, Backoff: backoff})
		if err != nil {
			return err
		}
		s.client = c
		f.subs = append(f.subs, s)
		sem <- struct{}{}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			_ = c.Run(ctx, func(ev livelogclient.Event) error { f.on(s, ev); return nil })
		}()
		go func() {
			select {
			case <-s.live:
			case <-ctx.Done():
			}
			<-sem
		}()
	}
	for _, s := range f.subs {
		select {
		case <-s.live:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *subFleet) stop() {
	if f.cancel != nil {
		f.cancel()
	}
	f.wg.Wait()
}

func (f *subFleet) on(s *subscriber, ev livelogclient.Event) {
	now := time.Now()
	switch ev.Kind {
	case livelogclient.KindLive:
		s.once.Do(func() { close(s.live) })
		if at := s.dropAt.Swap(0); at != 0 {
			back := now.Sub(time.Unix(0, at)) - s.delay
			f.mu.Lock()
			recordLatency(f.back, back)
			f.mu.Unlock()
		}
	case livelogclient.KindReconnecting:
		s.closes++
		s.delay = ev.Delay
	case livelogclient.KindGap:
		s.gaps++
		if ev.Gap.Reason == livelogclient.ReasonOrder {
			s.orderGaps++
		}
	case livelogclient.KindLine:
		l := ev.Line
		s.lines.Add(1)
		ts := l.Timestamp.UnixNano()
		if ts >= f.measureFrom.Load() {
			f.inWindow.Add(1)
			f.mu.Lock()
			if sp := f.split.Load(); sp != 0 && ts >= sp {
				recordLatency(f.after, now.Sub(l.Timestamp))
			} else {
				recordLatency(f.lat, now.Sub(l.Timestamp))
			}
			f.mu.Unlock()
		}
		if !s.hot || l.Type != "uplink" {
			return
		}
		n := uplinkNumber(l.Message)
		if n <= 0 {
			return
		}
		if n >= len(s.seen) {
			s.seen = append(s.seen, make([]uint8, n+1024-len(s.seen))...)
		}
		if s.seen[n] > 0 {
			s.dups++
		} else {
			s.unique.Add(1)
		}
		if s.seen[n] < 255 {
			s.seen[n]++
		}
	}
}

// uplinkNumber reads N from serve's "Received uplink #N".
func uplinkNumber(msg string) int {
	_, num, ok := strings.Cut(msg, "#")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0
	}
	return n
}

// tally checks every hot subscriber against the acknowledged uplinks.
type subTally struct {
	lost, dups, gaps, orderGaps, closes int64
}

func (f *subFleet) tally(acked func(n int) bool, maxN int) subTally {
	var t subTally
	for _, s := range f.subs {
		t.dups += s.dups + s.client.Duplicates()
		t.gaps += s.gaps
		t.orderGaps += s.orderGaps
		t.closes += s.closes
		if !s.hot {
			continue
		}
		for n := 1; n <= maxN; n++ {
			if acked(n) && (n >= len(s.seen) || s.seen[n] == 0) {
				t.lost++
			}
		}
	}
	return t
}

// connTracker remembers every subscriber socket, so a storm can cut them
// all at once, as a network failure would.
type connTracker struct {
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
	d     net.Dialer
}

type trackedConn struct {
	net.Conn
	t *connTracker
}

func (c *trackedConn) Close() error {
	c.t.mu.Lock()
	delete(c.t.conns, c)
	c.t.mu.Unlock()
	return c.Conn.Close()
}

func (t *connTracker) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := t.d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

// dropAll closes every open subscriber socket and returns how many.
func (t *connTracker) dropAll() int {
	t.mu.Lock()
	list := make([]net.Conn, 0, len(t.conns))
	for c := range t.conns {
		list = append(list, c.Conn)
	}
	clear(t.conns)
	t.mu.Unlock()
	for _, c := range list {
		c.Close()
	}
	return len(list)
}
