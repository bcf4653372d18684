package daemon_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/kube"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/drivers/daemon"
	"github.com/liveplane/liveplane/internal/eventcodec"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest/kubegrant"
)

// counting wraps the real adapter and counts the calls a resync makes.
type counting struct {
	provisioning.Kube
	perAccount, snapshots atomic.Int64
}

func (c *counting) Namespace(ctx context.Context, name string) (provisioning.Namespace, bool, error) {
	c.perAccount.Add(1)
	return c.Kube.Namespace(ctx, name)
}

func (c *counting) Snapshot(ctx context.Context) (provisioning.Snapshot, error) {
	c.snapshots.Add(1)
	return c.Kube.Snapshot(ctx)
}

// statuses collects the status events the daemons publish on the bus.
type statuses struct {
	mu  sync.Mutex
	all []provisioning.Status
}

// watchStatuses collects, in arrival order, the status events published
// on nc's bus from now on.
func watchStatuses(t *testing.T, nc *nats.Conn) *statuses {
	t.Helper()
	got := &statuses{}
	if _, err := nc.Subscribe("liveplane.events.provisioning.>", func(m *nats.Msg) {
		if ev, err := eventcodec.Decode(m.Data); err == nil {
			if s, ok := ev.Data.(provisioning.Status); ok {
				got.mu.Lock()
				got.all = append(got.all, s)
				got.mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func (s *statuses) has(cond func(provisioning.Status) bool) bool { return s.first(cond) >= 0 }

// first is the arrival index of the first status matching cond, or -1.
func (s *statuses) first(cond func(provisioning.Status) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, st := range s.all {
		if cond(st) {
			return i
		}
	}
	return -1
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func is(id, typ, reason string, status bool, gen int64) func(provisioning.Status) bool {
	return func(s provisioning.Status) bool {
		c, ok := s.Cond(typ)
		return s.AccountID == id && ok && c.Status == status && (reason == "" || c.Reason == reason) && s.ObservedGeneration == gen
	}
}

// The daemon against a real apiserver (RBAC, namespace controller) and a
// real NATS: apply with quota and binding, a foreign namespace left alone,
// drift reported then repaired, unset quota and binding removed, a restart
// that settles from one snapshot, delete reported Deleted once gone, and an
// RBAC refusal shown as Degraded.
func TestDaemonOnRealAPIServer(t *testing.T) {
	r := daemon.StartRealCluster(t, "d1", kubetest.WithControllers(), kubetest.WithUser("nobind", "nobind"))
	c, admin, nc, js, kc := r.API, r.Admin, r.NC, r.JS, r.KC
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := watchStatuses(t, nc)
	start := func(k provisioning.Kube) *daemon.Daemon {
		d := daemon.New(k, natsbus.NewEventPublisher(js), daemon.Options{Cluster: "d1", Resync: time.Hour, Heartbeat: time.Hour})
		dctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = d.Run(dctx); close(done) }()
		t.Cleanup(func() { stop(); <-done })
		return d
	}
	d := start(kc)
	handle := func(d *daemon.Daemon, a account.Account) error {
		return d.Handle(ctx, domain.Event{Type: account.EventUpdated, AggregateID: a.ID, Data: a})
	}

	acme := account.Account{ID: "a-acme", Name: "acme", State: account.StateProvisioning, Generation: 1,
		Quota: account.Quota{CPU: "1", Pods: 5}, Group: "acme-devs"}
	if err := handle(d, acme); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "acme Ready", func() bool { return got.has(is(acme.ID, provisioning.CondReady, "", true, 1)) })
	if _, err := admin.CoreV1().ResourceQuotas("lp-acme").Get(ctx, provisioning.QuotaName, metav1.GetOptions{}); err != nil {
		t.Fatalf("quota: %v", err)
	}
	if rb, err := admin.RbacV1().RoleBindings("lp-acme").Get(ctx, provisioning.RoleBindingName, metav1.GetOptions{}); err != nil || rb.RoleRef.Name != "edit" {
		t.Fatalf("binding: %+v %v", rb, err)
	}

	// Somebody else's namespace is not taken over.
	if _, err := admin.CoreV1().Namespaces().Apply(ctx, nsApply("lp-taken"), metav1.ApplyOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	taken := account.Account{ID: "a-taken", Name: "taken", State: account.StateProvisioning, Generation: 1}
	if err := handle(d, taken); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "taken Degraded", func() bool {
		return got.has(is(taken.ID, provisioning.CondDegraded, provisioning.ReasonOwnedByOther, true, 1))
	})

	// Drift: quota deleted, namespace relabelled; the resync reports it,
	// then repairs it.
	if err := admin.CoreV1().ResourceQuotas("lp-acme").Delete(ctx, provisioning.QuotaName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, _ := admin.CoreV1().Namespaces().Get(ctx, "lp-acme", metav1.GetOptions{})
	ns.Labels[provisioning.LabelGeneration] = "7"
	if _, err := admin.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.Resync(ctx)
	waitFor(t, "drift reported", func() bool {
		return got.has(is(acme.ID, provisioning.CondDegraded, provisioning.ReasonDrifted, true, 1))
	})
	ns, _ = admin.CoreV1().Namespaces().Get(ctx, "lp-acme", metav1.GetOptions{})
	if _, err := admin.CoreV1().ResourceQuotas("lp-acme").Get(ctx, provisioning.QuotaName, metav1.GetOptions{}); err != nil || ns.Labels[provisioning.LabelGeneration] != "1" {
		t.Fatalf("not repaired: quota %v, labels %v", err, ns.Labels)
	}

	// Quota and group unset: ours are removed.
	acme.Generation, acme.Quota, acme.Group = 2, account.Quota{}, ""
	if err := handle(d, acme); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ResourceQuotas("lp-acme").Get(ctx, provisioning.QuotaName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("quota left after unset: %v", err)
	}
	if _, err := admin.RbacV1().RoleBindings("lp-acme").Get(ctx, provisioning.RoleBindingName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("binding left after unset: %v", err)
	}

	// A restarted daemon knows the specs (seeded from the bus) but not what
	// it reported: one snapshot settles acme, no per-account call.
	cnt := &counting{Kube: kc}
	d2 := daemon.New(cnt, natsbus.NewEventPublisher(js), daemon.Options{Cluster: "d1", Resync: time.Hour, Heartbeat: time.Hour})
	d2.Seed(acme)
	before := time.Now()
	d2.Resync(ctx)
	if n, s := cnt.perAccount.Load(), cnt.snapshots.Load(); n != 0 || s != 1 {
		t.Fatalf("restart resync made %d per-account calls and %d snapshots, want 0 and 1", n, s)
	}
	go func() { _ = d2.Run(ctx) }()
	waitFor(t, "Ready re-reported after the restart", func() bool {
		return got.has(func(s provisioning.Status) bool {
			return is(acme.ID, provisioning.CondReady, "", true, 2)(s) && s.Time.After(before)
		})
	})

	// Delete: Deleting, then Deleted once the namespace is really gone.
	acme.State, acme.Generation = account.StateDeleting, 3
	if err := handle(d, acme); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !got.has(func(s provisioning.Status) bool {
		return s.AccountID == acme.ID && s.Deleted && s.ObservedGeneration == 3
	}) {
		if time.Now().After(deadline) {
			t.Fatal("no Deleted report within 30 s")
		}
		d.Resync(ctx)
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "lp-acme", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Deleted reported while the namespace exists: %v", err)
	}

	// RBAC: a daemon that may manage namespaces and quotas but not bind
	// cluster-admin reports Degraded RoleBindingFailed and keeps retrying.
	kubegrant.Grant(t, admin, "daemon-nobind", "nobind", kubegrant.Daemon...)
	limited, err := kube.New(c.RestConfigFor("nobind"))
	if err != nil {
		t.Fatal(err)
	}
	d3 := daemon.New(limited, natsbus.NewEventPublisher(js), daemon.Options{Cluster: "d1", Resync: time.Hour, Heartbeat: time.Hour, GroupRole: "cluster-admin"})
	go func() { _ = d3.Run(ctx) }()
	ops := account.Account{ID: "a-ops", Name: "ops", State: account.StateProvisioning, Generation: 1, Group: "ops"}
	if err := handle(d3, ops); err == nil {
		t.Fatal("a refused binding was acknowledged")
	}
	waitFor(t, "RoleBindingFailed reported", func() bool {
		return got.has(is(ops.ID, provisioning.CondDegraded, provisioning.ReasonBindingFailed, true, 1))
	})
}

func nsApply(name string) *applycorev1.NamespaceApplyConfiguration {
	return applycorev1.Namespace(name)
}
