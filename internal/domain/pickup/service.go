package pickup

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// Options tune the service; zero fields take the defaults below.
type Options struct {
	Instance        string        // this process's id in the store (heartbeat, lease holder)
	MaxMessageBytes int           // largest payload accepted; default 1 MiB
	Limits          Limits        // per connection; default 100,000 messages, 1 GiB
	TTL             time.Duration // messages older than this are deleted; 0 keeps them
	AckTimeout      time.Duration // in flight this long without a remove: pending again; default 30s
	TakeoverGrace   time.Duration // superseded holder's in-flight messages move after this; default 1s
	MaxTake         int           // messages per take when no limit is given; default 1,000
	PushWindow      time.Duration // one notification per token per window; default 10s
	PushTimeout     time.Duration // per provider call; default 10s
	PushAttempts    int           // attempts before a notification fails; default 6
	PushPoll        time.Duration // due notifications poll; default 1s
	Heartbeat       time.Duration // instance heartbeat period; default 1s
	LeaseTTL        time.Duration // a silent instance's leases die after this; default 5s
	Sweep           time.Duration // in-flight deadline sweep period; default 100ms
	MaxBatch        int           // messages per AddMessages transaction; default 256
	BatchWorkers    int           // concurrent AddMessages transactions; default 1
	Observer        Observer
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&o.MaxMessageBytes, 1<<20)
	if o.Limits.MaxMessages <= 0 {
		o.Limits.MaxMessages = 100_000
	}
	if o.Limits.MaxBytes <= 0 {
		o.Limits.MaxBytes = 1 << 30
	}
	def(&o.AckTimeout, 30*time.Second)
	def(&o.TakeoverGrace, time.Second)
	defInt(&o.MaxTake, 1000)
	def(&o.PushWindow, 10*time.Second)
	def(&o.PushTimeout, 10*time.Second)
	defInt(&o.PushAttempts, 6)
	def(&o.PushPoll, time.Second)
	def(&o.Heartbeat, time.Second)
	def(&o.LeaseTTL, 5*time.Second)
	def(&o.Sweep, 100*time.Millisecond)
	defInt(&o.MaxBatch, 256)
	defInt(&o.BatchWorkers, 1)
	if o.Instance == "" {
		o.Instance = domain.NewID()
	}
	return o
}

// Client is who calls: a gateway socket, acting for an account.
type Client struct {
	Account string // "" in the gateway's open mode
	Holder  Holder
}

// Service holds the pickup use cases. It is safe for concurrent use.
type Service struct {
	store   Store
	notify  Notifier
	pusher  Pusher
	clock   domain.Clock
	log     *slog.Logger
	opt     Options
	metrics Observer

	adds     chan *addReq
	removes  chan *removeReq
	stopMu   sync.RWMutex // held for reading while enqueueing; Close takes it to stop intake
	stopped  bool
	workers  sync.WaitGroup
	pushWake chan struct{}
}

// NewService builds the service and starts its batchers; call Close
// when no more calls can arrive.
func NewService(store Store, notify Notifier, pusher Pusher, clock domain.Clock, log *slog.Logger, opt Options) *Service {
	if log == nil {
		log = discardLogger()
	}
	opt = opt.withDefaults()
	s := &Service{
		store: store, notify: notify, pusher: pusher, clock: clock, log: log, opt: opt, metrics: opt.Observer,
		adds:     make(chan *addReq, opt.MaxBatch*opt.BatchWorkers),
		removes:  make(chan *removeReq, opt.MaxBatch*opt.BatchWorkers),
		pushWake: make(chan struct{}, 1),
	}
	for range opt.BatchWorkers {
		s.workers.Add(2)
		go s.batchLoop()
		go s.removeLoop()
	}
	return s
}

// Instance is this process's id in the store.
func (s *Service) Instance() string { return s.opt.Instance }

// Options returns the effective options.
func (s *Service) Options() Options { return s.opt }

// Start records the first heartbeat, so leases taken right after count as
// live. Call it before the gateway accepts sockets.
func (s *Service) Start(ctx context.Context) error {
	return domain.Wrap("pickup.Start", s.store.Heartbeat(ctx, s.opt.Instance, s.clock.Now().Add(s.opt.LeaseTTL)))
}

// Run keeps the instance alive in the store, sweeps expired in-flight
// messages back to their connections' live sessions, expires old messages
// and sends push notifications, until ctx ends. Then it removes the
// instance's heartbeat, so its leases stop counting at once.
//
// The heartbeat has a goroutine of its own: a sweep or drain that takes
// long (a large backlog returning at once, a slow database) must never let
// this instance's leases lapse, or adds for its live sessions would stop
// going in flight for as long as the lapse lasts.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = s.runPush(ctx) })
	wg.Go(func() { s.heartbeat(ctx) })
	held := time.NewTicker(s.opt.Heartbeat)
	sweep := time.NewTicker(s.opt.Sweep)
	defer held.Stop()
	defer sweep.Stop()
	lastExpire := time.Time{}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			return domain.Wrap("pickup.Leave", s.store.Leave(lctx, s.opt.Instance))
		case <-held.C:
			s.drainHeld(ctx)
		case <-sweep.C:
			s.sweep(ctx)
			if s.opt.TTL > 0 && time.Since(lastExpire) > 10*time.Second {
				lastExpire = time.Now()
				s.expire(ctx)
			}
		}
	}
}

// heartbeat extends this instance's lease every Heartbeat until ctx ends.
func (s *Service) heartbeat(ctx context.Context) {
	t := time.NewTicker(s.opt.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.store.Heartbeat(ctx, s.opt.Instance, s.clock.Now().Add(s.opt.LeaseTTL)); err != nil && ctx.Err() == nil {
				s.log.Warn("pickup: heartbeat", "err", err)
			}
		}
	}
}

// sweep returns expired in-flight messages to pending and drains them to
// their connections' current holders.
func (s *Service) sweep(ctx context.Context) {
	leases, err := s.store.Requeue(ctx, s.clock.Now(), 1000)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("pickup: requeue", "err", err)
		}
		return
	}
	for _, l := range leases {
		s.Drain(ctx, l)
	}
}

// drainHeld delivers what is pending for the sessions this instance's
// sockets hold. Normally nothing is: adds for a live session go in flight
// at once. But while this instance's heartbeat lapsed (a stall, a database
// hiccup) its leases did not count, and adds for them stayed pending.
func (s *Service) drainHeld(ctx context.Context) {
	leases, err := s.store.PendingLeases(ctx, s.opt.Instance, 1000)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("pickup: pending messages of held sessions", "err", err)
		}
		return
	}
	for _, l := range leases {
		s.Drain(ctx, l)
	}
}

func (s *Service) expire(ctx context.Context) {
	cutoff := s.clock.Now().Add(-s.opt.TTL)
	for range 100 { // bounded: at most 100,000 per pass, the rest next time
		n, err := s.store.Expire(ctx, cutoff, 1000)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("pickup: expire", "err", err)
			}
			return
		}
		s.metrics.expired(int(n))
		if n < 1000 {
			return
		}
	}
}

// Close stops the batchers after the queued adds and removes committed. Calls
// after Close fail with CodeUnavailable.
func (s *Service) Close() {
	s.stopMu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.adds)
		close(s.removes)
	}
	s.stopMu.Unlock()
	s.workers.Wait()
}
