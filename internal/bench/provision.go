package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"

	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// Provision is flow A end to end: real kube-apiservers (one etcd, one
// --etcd-prefix each), one `liveplane daemon` per cluster, a spawned
// `serve` with its NATS listener; accounts created at --rate.
type Provision struct {
	clusters       int
	accounts       int
	resync         time.Duration
	converge       time.Duration
	quota          bool
	kills          int
	outage         time.Duration
	outageAccounts int
	drifts         int
	rebuildEvents  int
	serveArgs      string
}

var (
	_ Workload  = (*Provision)(nil)
	_ OwnServer = (*Provision)(nil)
)

func (*Provision) StartsOwnServer() {}

func (*Provision) Name() string { return "provision" }

func (*Provision) Help() string {
	return `Accounts across real Kubernetes clusters: CreateAccount at --rate against N
kube-apiservers (built and started like the tests do, scripts/kube-build,
cached; run it from the repository, or set LIVEPLANE_KUBE_BIN to a directory
with etcd, kube-apiserver and kube-controller-manager), one liveplane daemon
per cluster, a spawned serve. Latencies start
at each Create response: to the namespace existing in every cluster (a watch
on each apiserver) and to GetAccount answering READY (polled in a closed
loop). Ignores --server, --spawn and --duration: it spawns its own serve and
creates --accounts accounts.
Optional phases after the main one, each with its own figures:
  --kills N          N times: a random daemon dies at a failpoint (after apply
                     before ack, or before a status), is restarted; time from
                     restart to every account READY; lost and duplicate effects
  --outage D         one apiserver stopped for D while --outage-accounts are
                     created: the others' namespace latency; convergence after
                     its return; lost
  --drifts N         N namespaces deleted or relabelled out of band: time until
                     restored, and whether Degraded was reported meanwhile
  --rebuild-events N N synthetic status events published, then serve stopped
                     and 'projections rebuild' timed; equal or not`
}

func (p *Provision) Flags(fs *flag.FlagSet) {
	fs.IntVar(&p.clusters, "clusters", 3, "Kubernetes `clusters` (apiservers on one etcd)")
	fs.IntVar(&p.accounts, "accounts", 300, "accounts created in the main phase")
	fs.DurationVar(&p.resync, "resync", 5*time.Second, "daemons' --resync `period`")
	fs.DurationVar(&p.converge, "converge-timeout", 2*time.Minute, "how long to wait for READY before counting an account lost")
	fs.BoolVar(&p.quota, "quota", false, "accounts also set a quota and a group (ResourceQuota and RoleBinding in every cluster)")
	fs.IntVar(&p.kills, "kills", 0, "daemon kills at failpoints (0: skip the phase)")
	fs.DurationVar(&p.outage, "outage", 0, "stop one apiserver this `long` (0: skip the phase)")
	fs.IntVar(&p.outageAccounts, "outage-accounts", 100, "accounts created while the apiserver is stopped")
	fs.IntVar(&p.drifts, "drifts", 0, "namespaces deleted or relabelled out of band (0: skip; starts the namespace controllers)")
	fs.IntVar(&p.rebuildEvents, "rebuild-events", 0, "synthetic status events before timing 'projections rebuild' (0: skip)")
	fs.StringVar(&p.serveArgs, "serve-args", "", "extra serve flags, space-separated (e.g. --database=postgres://...); also given to the rebuild")
}

// provRun is one measurement's moving parts.
type provRun struct {
	p        *Provision
	env      Env
	rate     float64
	bin      string
	spec     daemonSpec
	clusters []*provCluster
	watches  map[string]*nsWatch
	api      liveplanev1connect.AccountServiceClient
	poller   *readyPoller
	statuses *statusLog
	nc       *nats.Conn
	srv      *Server
	dataDir  string

	mu      sync.Mutex
	created []createdAccount
	errs    map[string]int64
	drifted map[string]bool // cluster/namespace touched out of band on purpose
}

type createdAccount struct {
	id, name string
	at       time.Time // the Create response arrived
}

func (p *Provision) Run(ctx context.Context, env Env) (Result, error) {
	if p.clusters < 1 || p.accounts < 1 {
		return Result{}, fmt.Errorf("--clusters and --accounts must be at least 1")
	}
	r := &provRun{p: p, env: env, rate: env.Load.Rate, watches: map[string]*nsWatch{}, errs: map[string]int64{}, drifted: map[string]bool{}}
	if r.rate <= 0 {
		r.rate = 20
	}
	// A dozen processes (etcd, apiservers, controllers, serve, daemons)
	// share the machine: the common --client-cpus pinning would squeeze
	// them, all inherited, onto the generator's core. Unpin.
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	_ = PinSelf(all)
	var err error
	if r.bin, err = os.Executable(); err != nil {
		return Result{}, err
	}
	h, err := newHarnessT(env.Log)
	if err != nil {
		return Result{}, err
	}
	defer h.close()
	env.Log.Info("starting clusters (the first run builds the Kubernetes binaries)", "clusters", p.clusters)
	if r.clusters, err = startClusters(h, p.clusters, p.drifts > 0); err != nil {
		return Result{}, err
	}
	if err := r.startControlPlane(ctx); err != nil {
		return Result{}, err
	}
	defer r.stop()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, c := range r.clusters {
		w := newNSWatch()
		r.watches[c.name] = w
		go c.watchNamespaces(rctx, w)
	}
	go r.poller.run(rctx, 2)
	if err := r.waitHealthy(ctx); err != nil {
		return Result{}, err
	}

	res, err := r.mainPhase(ctx)
	if err != nil {
		return res, err
	}
	// Drift first: after an outage the stopped cluster's controller
	// manager is in backoff for a while and terminates namespaces slowly,
	// which is Kubernetes' time, not ours.
	if p.drifts > 0 {
		if res.Extra["drift"], err = r.driftPhase(ctx); err != nil {
			return res, err
		}
	}
	if p.kills > 0 {
		if res.Extra["kills"], err = r.killPhase(ctx); err != nil {
			return res, err
		}
	}
	if p.outage > 0 {
		if res.Extra["outage"], err = r.outagePhase(ctx); err != nil {
			return res, err
		}
	}
	res.Extra["duplicate_side_effects"] = r.duplicates()
	if p.rebuildEvents > 0 {
		cancel() // watches and poller off: serve stops next
		if res.Extra["rebuild"], err = r.rebuildPhase(ctx); err != nil {
			return res, err
		}
	}
	if len(r.errs) > 0 {
		res.ErrorSamples = topErrors(r.errs, 5)
	}
	return res, nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *provRun) startControlPlane(ctx context.Context) error {
	var err error
	if r.dataDir, err = os.MkdirTemp("", "liveplane-bench-provision-"); err != nil {
		return err
	}
	natsAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	token := randomToken()
	args := append([]string{"--nats-listen", natsAddr, "--nats-token", token, "--pickup", "off", "--log-level", "warn"},
		strings.Fields(r.p.serveArgs)...)
	if r.srv, err = StartServer(ctx, ServerOptions{Binary: r.bin, DataDir: r.dataDir, Args: args}); err != nil {
		return err
	}
	adminToken, err := r.srv.AdminToken()
	if err != nil {
		return err
	}
	hc := NewHTTPClient(64)
	r.api = liveplanev1connect.NewAccountServiceClient(hc, r.srv.URL(), connect.WithInterceptors(bearer(adminToken)))
	r.poller = newReadyPoller(r.api)
	r.spec = daemonSpec{bin: r.bin, natsURL: "nats://" + natsAddr, token: token, resync: r.p.resync}
	if r.nc, err = nats.Connect(r.spec.natsURL, nats.Token(token)); err != nil {
		return fmt.Errorf("connect to serve's NATS: %w", err)
	}
	if r.statuses, err = watchStatuses(r.nc); err != nil {
		return err
	}
	for _, c := range r.clusters {
		if err := c.startDaemon(r.spec); err != nil {
			return err
		}
	}
	return nil
}

func (r *provRun) stop() {
	for _, c := range r.clusters {
		c.stopDaemon()
	}
	if r.nc != nil {
		r.nc.Close()
	}
	if r.srv != nil {
		_ = r.srv.Stop()
	}
	_ = os.RemoveAll(r.dataDir)
}

// waitHealthy waits until every cluster registered and beats.
func (r *provRun) waitHealthy(ctx context.Context) error {
	hc := NewHTTPClient(1)
	adminToken, _ := r.srv.AdminToken()
	cl := liveplanev1connect.NewClusterServiceClient(hc, r.srv.URL(), connect.WithInterceptors(bearer(adminToken)))
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := cl.ListClusters(ctx, connect.NewRequest(&lpv1.ListClustersRequest{}))
		healthy := 0
		if err == nil {
			for _, c := range res.Msg.GetClusters() {
				if c.GetHealth() == lpv1.ClusterHealth_CLUSTER_HEALTH_HEALTHY {
					healthy++
				}
			}
		}
		if healthy == len(r.clusters) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d clusters healthy after 60 s (last error %v)", healthy, len(r.clusters), err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// createAt creates n accounts named prefix-i on an open-loop schedule at
// the run's rate and returns those created, and the Create RPC latencies.
func (r *provRun) createAt(ctx context.Context, prefix string, n int, rpc *hdrhistogram.Histogram) []createdAccount {
	start := time.Now()
	out := make([]createdAccount, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		due := start.Add(time.Duration(float64(i) / r.rate * float64(time.Second)))
		if sleepCtx(ctx, time.Until(due)) != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			req := &lpv1.CreateAccountRequest{Name: fmt.Sprintf("%s-%d", prefix, i)}
			if r.p.quota {
				req.Quota = &lpv1.ResourceQuota{Cpu: "2", Memory: "4Gi", Pods: 50}
				req.Group = req.Name + "-devs"
			}
			t0 := time.Now()
			res, err := r.api.CreateAccount(ctx, connect.NewRequest(req))
			at := time.Now()
			if err != nil {
				r.mu.Lock()
				r.errs["create: "+errorText(err)]++
				r.mu.Unlock()
				return
			}
			a := res.Msg.GetAccount()
			r.poller.await(a.GetId(), a.GetGeneration())
			out[i] = createdAccount{id: a.GetId(), name: a.GetName(), at: at}
			r.mu.Lock()
			recordLatency(rpc, at.Sub(t0))
			r.mu.Unlock()
		}()
	}
	wg.Wait()
	var ok []createdAccount
	for _, c := range out {
		if c.id != "" {
			ok = append(ok, c)
		}
	}
	r.mu.Lock()
	r.created = append(r.created, ok...)
	r.mu.Unlock()
	return ok
}

// waitReady waits until none of the awaited accounts is pending, up to
// the convergence timeout; it returns when the last one turned READY.
func (r *provRun) waitReady(ctx context.Context, accts []createdAccount) time.Time {
	deadline := time.Now().Add(r.p.converge)
	for r.poller.pendingCount() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		_ = sleepCtx(ctx, 10*time.Millisecond)
	}
	var last time.Time
	for _, a := range accts {
		if t, ok := r.poller.ready(a.id); ok && t.After(last) {
			last = t
		}
	}
	return last
}

// nsInAll is when the account's namespace was first seen in every one of
// the clusters (zero if not in all).
func (r *provRun) nsInAll(a createdAccount, clusters []*provCluster) time.Time {
	var last time.Time
	for _, c := range clusters {
		s, ok := r.watches[c.name].get("lp-" + a.name)
		if !ok || s.first.IsZero() {
			return time.Time{}
		}
		if s.first.After(last) {
			last = s.first
		}
	}
	return last
}

// figures records, for accts, Create response -> namespaces in clusters
// and -> READY; it counts the accounts never READY as lost.
func (r *provRun) figures(accts []createdAccount, clusters []*provCluster) (ns, ready *hdrhistogram.Histogram, lost int) {
	ns, ready = newHistogram(), newHistogram()
	for _, a := range accts {
		if t := r.nsInAll(a, clusters); !t.IsZero() {
			recordLatency(ns, t.Sub(a.at))
		}
		if t, ok := r.poller.ready(a.id); ok {
			recordLatency(ready, t.Sub(a.at))
		} else {
			lost++
		}
	}
	return ns, ready, lost
}

func (r *provRun) mainPhase(ctx context.Context) (Result, error) {
	r.env.Log.Info("main phase: creating accounts", "accounts", r.p.accounts, "rate", r.rate, "clusters", len(r.clusters))
	rpc := newHistogram()
	start := time.Now()
	accts := r.createAt(ctx, "p", r.p.accounts, rpc)
	last := r.waitReady(ctx, accts)
	ns, ready, lost := r.figures(accts, r.clusters)
	elapsed := last.Sub(start).Seconds()
	res := Result{
		Workload: "provision", Mode: OpenLoop, Start: start.Truncate(time.Second), IntendedRate: r.rate,
		Concurrency: 64, DurationSec: float64(r.p.accounts) / r.rate, ElapsedSec: elapsed,
		OK: ready.TotalCount(), Errors: int64(r.p.accounts - len(accts) + lost),
		Latency: summarise(ready),
	}
	if elapsed > 0 {
		res.AchievedRate = float64(ready.TotalCount()) / elapsed
	}
	res.setHistogram(ready)
	res.Extra = map[string]any{
		"clusters":                       len(r.clusters),
		"accounts":                       r.p.accounts,
		"lost":                           lost,
		"create_rpc":                     summarise(rpc),
		"create_to_namespace_everywhere": summarise(ns),
		"create_to_ready":                summarise(ready),
	}
	r.env.Log.Info("main phase done", "ns_p99_ms", summarise(ns).P99, "ready_p99_ms", summarise(ready).P99, "lost", lost)
	return res, nil
}
