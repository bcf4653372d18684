package daemon_test

import (
	"context"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/drivers/daemon"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
)

// Drift made while the daemon was down is reported, Degraded with its
// reason, before the restarted daemon repairs it, as a running daemon
// reports it: a namespace relabelled out of band, and one deleted out of
// band (the control plane's record, replayed from the bus, shows both had
// been provisioned). An account created while the daemon was down, and
// one updated while it was down, are not drift. Without the record (the
// reports aged out of the stream) a relabelled namespace still shows that
// it was ours and is still reported.
func TestDaemonRestartReportsDriftMadeWhileDown(t *testing.T) {
	const cluster = "r1"
	r := daemon.StartRealCluster(t, cluster, kubetest.WithControllers())
	admin, nc, js, kc := r.Admin, r.NC, r.JS, r.KC
	ctx := t.Context()
	got := watchStatuses(t, nc)
	pub := natsbus.NewEventPublisher(js)

	// put records an account's spec on the bus, as serve's outbox does.
	put := func(a account.Account) {
		t.Helper()
		now := time.Now()
		if err := pub.Publish(ctx, domain.Event{ID: domain.NewID(), Type: account.EventUpdated, AggregateID: a.ID,
			AggregateVersion: a.Generation, Time: now, Data: a}); err != nil {
			t.Fatal(err)
		}
	}
	// start starts a daemon as `liveplane daemon` does: every account's
	// newest spec and, with reports, this cluster's status reports, both
	// replayed from the bus, then Run (whose first resync repairs). It
	// returns the start time and a stop that waits for Run to return.
	start := func(reports bool) (time.Time, func()) {
		t.Helper()
		d := daemon.New(kc, pub, daemon.Options{Cluster: cluster, Resync: time.Hour, Heartbeat: time.Hour})
		err := natsbus.Replay(ctx, js, []string{natsbus.EventsSubjectPrefix + "account.>"}, true, func(_ uint64, ev domain.Event) error {
			if a, ok := ev.Data.(account.Account); ok {
				d.Seed(a)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if reports {
			if err := natsbus.ReplayStatuses(ctx, js, cluster, d.SeedStatus); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Now()
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { _ = d.Run(dctx); close(done) }()
		var once sync.Once
		stop := func() { once.Do(func() { cancel(); <-done }) }
		t.Cleanup(stop)
		return at, stop
	}
	since := func(t0 time.Time, cond func(provisioning.Status) bool) func(provisioning.Status) bool {
		return func(s provisioning.Status) bool { return cond(s) && s.Time.After(t0) }
	}
	degraded := func(id string) func(provisioning.Status) bool {
		return func(s provisioning.Status) bool {
			c, ok := s.Cond(provisioning.CondDegraded)
			return s.AccountID == id && ok && c.Status
		}
	}
	// reportedThenRepaired checks that id was reported Degraded with
	// reason after t0, before it was reported Ready at gen again.
	reportedThenRepaired := func(t0 time.Time, id, reason string, gen int64) {
		t.Helper()
		ready := since(t0, is(id, provisioning.CondReady, "", true, gen))
		waitFor(t, id+" Ready after the restart", func() bool { return got.has(ready) })
		d := got.first(since(t0, is(id, provisioning.CondDegraded, reason, true, gen)))
		if d < 0 {
			t.Fatalf("%s: no Degraded %s reported after the restart; the drift was repaired silently", id, reason)
		}
		if r := got.first(ready); d > r {
			t.Fatalf("%s: Degraded %s reported (#%d) after Ready (#%d), not before the repair", id, reason, d, r)
		}
	}

	relabel := account.Account{ID: "a-relabel", Name: "relabel", State: account.StateProvisioning, Generation: 1}
	gone := account.Account{ID: "a-gone", Name: "gone", State: account.StateProvisioning, Generation: 1}
	later := account.Account{ID: "a-later", Name: "later", State: account.StateProvisioning, Generation: 1}
	for _, a := range []account.Account{relabel, gone, later} {
		put(a)
	}
	t0, stop := start(true)
	for _, a := range []account.Account{relabel, gone, later} {
		waitFor(t, a.ID+" Ready", func() bool { return got.has(since(t0, is(a.ID, provisioning.CondReady, "", true, 1))) })
		if got.has(degraded(a.ID)) {
			t.Fatalf("%s: a new account reported Degraded on its first apply", a.ID)
		}
	}
	stop()

	// While the daemon is down: lp-relabel loses its managed-by label,
	// lp-gone is deleted (the namespace controller empties it), fresh is
	// created, and later is updated (a spec change, not drift).
	ns, err := admin.CoreV1().Namespaces().Get(ctx, "lp-relabel", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	delete(ns.Labels, provisioning.LabelManagedBy)
	if _, err := admin.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := admin.CoreV1().Namespaces().Delete(ctx, "lp-gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lp-gone really gone", func() bool {
		_, err := admin.CoreV1().Namespaces().Get(ctx, "lp-gone", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	fresh := account.Account{ID: "a-fresh", Name: "fresh", State: account.StateProvisioning, Generation: 1}
	put(fresh)
	later.Generation, later.Quota = 2, account.Quota{Pods: 3}
	put(later)

	t1, stop := start(true)
	reportedThenRepaired(t1, relabel.ID, provisioning.ReasonDrifted, 1)
	reportedThenRepaired(t1, gone.ID, provisioning.ReasonMissing, 1)
	waitFor(t, "fresh Ready", func() bool { return got.has(since(t1, is(fresh.ID, provisioning.CondReady, "", true, 1))) })
	waitFor(t, "later Ready at 2", func() bool { return got.has(since(t1, is(later.ID, provisioning.CondReady, "", true, 2))) })
	for _, id := range []string{fresh.ID, later.ID} {
		if i := got.first(since(t1, degraded(id))); i >= 0 {
			t.Fatalf("%s: reported Degraded after the restart (status #%d), but nothing drifted", id, i)
		}
	}
	for _, name := range []string{"lp-relabel", "lp-gone"} {
		ns, err := admin.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if err != nil || ns.Labels[provisioning.LabelManagedBy] != provisioning.ManagedByValue {
			t.Fatalf("%s not repaired: %v %v", name, err, ns.GetLabels())
		}
	}
	stop()

	// The reports aged out of the stream: the namespace itself (applied by
	// liveplane, a generation label this account never had) shows the
	// drift.
	ns, err = admin.CoreV1().Namespaces().Get(ctx, "lp-relabel", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels[provisioning.LabelGeneration] = "9"
	if _, err := admin.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t2, _ := start(false)
	reportedThenRepaired(t2, relabel.ID, provisioning.ReasonDrifted, 1)
}
