// Package daemon is the per-cluster provisioning driver: it turns account
// events into namespaces in one Kubernetes cluster, keeps them there with a
// level-triggered resync, and reports per-account status and heartbeats.
package daemon

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// Options configure a Daemon; zero values take the defaults.
type Options struct {
	Cluster   string // required
	Version   string // reported in heartbeats
	Resync    time.Duration
	Heartbeat time.Duration
	// GroupRole is the ClusterRole an account's group is bound to
	// (provisioning.DefaultGroupRole when empty).
	GroupRole string
	// Beats records heartbeats; nil publishes them as events (the old way,
	// which grows the stream; kept for tests without a bucket).
	Beats provisioning.Beater
	// Failpoint is called at named steps ("after-apply", "before-status",
	// "before-resync") so crash tests can kill the process exactly there
	// (and race tests hold it there); nil in production.
	Failpoint func(name string)
	Logger    *slog.Logger
	Clock     domain.Clock
}

// Daemon reconciles one cluster. Handle is its events handler; Run runs
// the resync, status and heartbeat loops.
type Daemon struct {
	o    Options
	kube provisioning.Kube
	pub  provisioning.Publisher
	log  *slog.Logger

	// Reconciles of one account are serialised (a stripe per account id);
	// different accounts reconcile side by side.
	stripes [64]sync.Mutex

	pubMu sync.Mutex // serialises publishPending

	mu       sync.Mutex
	desired  map[string]account.Account     // newest spec seen per account; generations only grow
	applied  map[string]int64               // newest generation whose namespace labels this cluster had (see noteApplied)
	status   map[string]provisioning.Status // what to report
	reported map[string]provisioning.Status // what was published
	recorded map[string]provisioning.Status // the control plane's last report from this cluster, before this process reported
	clean    map[string]int64               // generation whose unset quota/binding were checked absent
	gone     map[string]bool                // DELETED accounts whose namespace is confirmed gone
	retry    map[string]bool                // accounts whose last resync failed
	lastTime time.Time                      // report times strictly increase
	wake     chan struct{}
}

func New(kube provisioning.Kube, pub provisioning.Publisher, o Options) *Daemon {
	if o.Resync <= 0 {
		o.Resync = 30 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = provisioning.HeartbeatEvery
	}
	if o.GroupRole == "" {
		o.GroupRole = provisioning.DefaultGroupRole
	}
	if o.Failpoint == nil {
		o.Failpoint = func(string) {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = domain.SystemClock{}
	}
	return &Daemon{
		o: o, kube: kube, pub: pub, log: o.Logger.With("component", "daemon", "cluster", o.Cluster),
		desired: map[string]account.Account{}, applied: map[string]int64{}, status: map[string]provisioning.Status{},
		reported: map[string]provisioning.Status{}, recorded: map[string]provisioning.Status{}, clean: map[string]int64{}, gone: map[string]bool{}, retry: map[string]bool{},
		wake: make(chan struct{}, 1),
	}
}

// Seed records an account spec without reconciling it (start-up replay).
// Older generations than the one held are ignored.
func (d *Daemon) Seed(a account.Account) account.Account {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur, ok := d.desired[a.ID]
	if !ok || a.Generation > cur.Generation {
		d.desired[a.ID] = a
		return a
	}
	return cur
}

// Handle applies what an account event asks for and returns nil only once
// the cluster holds it (the consumer acks then). Errors are retried with
// backoff by the consumer; they are never dropped.
func (d *Daemon) Handle(ctx context.Context, ev domain.Event) error {
	a, ok := ev.Data.(account.Account)
	if !ok {
		return nil
	}
	d.Seed(a)
	mu := d.stripe(a.ID)
	mu.Lock()
	err := d.reconcile(ctx, d.newest(a), false)
	mu.Unlock()
	if err != nil {
		return err
	}
	d.o.Failpoint("after-apply")
	return nil
}

// newest returns the newest spec known for a's account: a, or the one an
// event (or the start-up replay) brought since a was copied. Callers hold
// the account's stripe and reconcile what it returns, so a reconcile never
// applies an older spec than one reconciled before it: desired only grows,
// and whatever was reconciled was read from it under the same stripe.
func (d *Daemon) newest(a account.Account) account.Account {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cur, ok := d.desired[a.ID]; ok && cur.Generation > a.Generation {
		return cur
	}
	return a
}

// Run registers, then heartbeats, resyncs and publishes status until ctx
// ends. Registration is an event (one per daemon start); heartbeats go to
// the Beater, which keeps only the newest per cluster.
func (d *Daemon) Run(ctx context.Context) error {
	registered := d.register(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.statusLoop(ctx) }()
	go func() { defer wg.Done(); d.resyncLoop(ctx) }()
	d.heartbeat(ctx)
	t := time.NewTicker(d.o.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			if !registered {
				registered = d.register(ctx)
			}
			d.heartbeat(ctx)
		}
	}
}

func (d *Daemon) register(ctx context.Context) bool {
	if err := d.event(ctx, provisioning.EventClusterRegistered); err != nil {
		d.log.Warn("register failed; retrying at the next heartbeat", "err", err)
		return false
	}
	return true
}

func (d *Daemon) heartbeat(ctx context.Context) {
	var err error
	if d.o.Beats != nil {
		err = d.o.Beats.Beat(ctx, provisioning.Heartbeat{Cluster: d.o.Cluster, DaemonVersion: d.o.Version})
	} else {
		err = d.event(ctx, provisioning.EventClusterHeartbeat)
	}
	if err != nil {
		d.log.Warn("heartbeat failed", "err", err)
	}
}

func (d *Daemon) event(ctx context.Context, typ string) error {
	now := d.o.Clock.Now()
	return d.pub.Publish(ctx, domain.Event{
		ID: domain.NewID(), Type: typ, AggregateID: d.o.Cluster, AggregateVersion: now.UnixMicro(), Time: now,
		Data: provisioning.Heartbeat{Cluster: d.o.Cluster, DaemonVersion: d.o.Version},
	})
}

// retryEvery is how soon an account whose resync failed (an apiserver
// error, a namespace still terminating before it can be re-created) is
// tried again, instead of waiting for the next full resync.
const retryEvery = time.Second

func (d *Daemon) resyncLoop(ctx context.Context) {
	t := time.NewTicker(d.o.Resync)
	defer t.Stop()
	r := time.NewTicker(min(retryEvery, d.o.Resync))
	defer r.Stop()
	d.Resync(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.Resync(ctx)
		case <-r.C:
			d.retryFailed(ctx)
		}
	}
}

func (d *Daemon) retryFailed(ctx context.Context) {
	d.mu.Lock()
	var todo []account.Account
	for id := range d.retry {
		if a, ok := d.desired[id]; ok {
			todo = append(todo, a)
		}
	}
	clear(d.retry)
	d.mu.Unlock()
	for _, a := range todo {
		if ctx.Err() != nil {
			return
		}
		d.resyncOne(ctx, a, nil)
	}
}

// resyncOne brings one account to its spec as the resync does: settled
// from snap when the snapshot shows it as wanted, reconciled object by
// object otherwise or when snap is nil (the retry of a failed resync). A
// failure is retried within retryEvery.
//
// a is the resync's copy of the spec, taken without the account's lock:
// an event may have applied a newer generation since. So all of it runs
// in one hold of the account's stripe, for the newest spec read under it:
// the copy is never applied over a newer spec (that would put the older
// labels and quota back, and report the newer namespace as drift). With a
// snapshot, a newer spec is left to its event: the snapshot predates it.
func (d *Daemon) resyncOne(ctx context.Context, a account.Account, snap *provisioning.Snapshot) {
	d.o.Failpoint("before-resync")
	mu := d.stripe(a.ID)
	mu.Lock()
	defer mu.Unlock()
	cur := d.newest(a)
	if snap != nil {
		if cur.Generation != a.Generation {
			return // handled (or being handled) by the newer event
		}
		if d.fromSnapshot(cur, *snap) {
			return
		}
	}
	if err := d.reconcile(ctx, cur, true); err != nil {
		d.mu.Lock()
		first := !d.retry[a.ID]
		d.retry[a.ID] = true
		d.mu.Unlock()
		if first {
			d.log.Debug("resync failed; retrying", "account", a.ID, "err", err)
		}
	}
}

// Resync reconciles every known account against the cluster (level
// triggered): namespaces, quotas and bindings deleted or edited out of
// band come back. One snapshot (three LISTs) shows which accounts are as
// reported; only the others are reconciled object by object.
func (d *Daemon) Resync(ctx context.Context) {
	snap, err := d.kube.Snapshot(ctx)
	if err != nil {
		// The apiserver is unreachable or refuses the LISTs; per-account
		// calls would fail the same way. Events keep being retried by the
		// consumer; the next resync tries again.
		d.log.Warn("resync: listing the cluster failed", "err", err)
		return
	}
	d.mu.Lock()
	all := make([]account.Account, 0, len(d.desired))
	for id, a := range d.desired {
		if !d.gone[id] {
			all = append(all, a)
		}
	}
	d.mu.Unlock()
	for _, a := range all {
		if ctx.Err() != nil {
			return
		}
		d.resyncOne(ctx, a, &snap)
	}
}

// fromSnapshot settles a (under its stripe) without calling the apiserver
// when the snapshot shows it as wanted: Ready (namespace, quota and
// binding in place at its generation, unedited) or Deleted (namespace
// gone). A status not yet reported (after a restart) is recorded from the
// snapshot, so a restart costs three LISTs, not a GET per account. It
// reports false when a needs a reconcile.
func (d *Daemon) fromSnapshot(a account.Account, snap provisioning.Snapshot) bool {
	name := provisioning.NamespaceFor(a.Name)
	ns, found := snap.Namespaces[name]
	base := provisioning.Status{Cluster: d.o.Cluster, AccountID: a.ID, Namespace: name, ObservedGeneration: a.Generation}
	if a.State == account.StateDeleting || a.State == account.StateDeleted {
		if found && ns.OwnedBy(a.ID) {
			return false
		}
		d.mu.Lock()
		s, ok := d.status[a.ID]
		d.mu.Unlock()
		if !ok || !s.Deleted || s.ObservedGeneration != a.Generation {
			d.markDeleted(a, base)
		}
		return true
	}
	if !found || ns.Terminating {
		return false
	}
	want := labelsFor(a)
	for k, v := range want {
		if ns.Labels[k] != v {
			return false
		}
	}
	ours := func(o provisioning.ObjectState, ok bool) bool {
		return ok && !o.EditedByOthers && o.Labels[provisioning.LabelAccountID] == a.ID &&
			o.Labels[provisioning.LabelGeneration] == want[provisioning.LabelGeneration]
	}
	if !a.Quota.IsZero() {
		if q, ok := snap.Quotas[name]; !ours(q, ok) {
			return false
		}
	}
	if a.Group != "" {
		if b, ok := snap.Bindings[name]; !ours(b, ok) {
			return false
		}
	}
	if !d.readyAt(a.ID, a.Generation) {
		d.markReady(a, base)
	}
	return true
}

func genLabel(g int64) string { return strconv.FormatInt(g, 10) }
