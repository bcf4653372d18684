package provisioning

import (
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/account"
)

func TestDerive(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	fresh, stale := now.Add(-time.Second), now.Add(-time.Minute)
	acc := account.Account{ID: "a", State: account.StateProvisioning, Generation: 2}
	ready := func(c string, gen int64) Status {
		return Status{Cluster: c, AccountID: "a", ObservedGeneration: gen, Conditions: []Condition{{Type: CondReady, Status: true}}}
	}
	degraded := Status{Cluster: "c2", AccountID: "a", ObservedGeneration: 2, Conditions: []Condition{{Type: CondDegraded, Status: true}}}
	two := []Cluster{{Name: "c1", LastHeartbeat: fresh}, {Name: "c2", LastHeartbeat: fresh}}
	for _, tc := range []struct {
		name     string
		acc      account.Account
		clusters []Cluster
		st       []Status
		want     account.State
	}{
		{"no clusters", acc, nil, nil, account.StateProvisioning},
		{"all ready", acc, two, []Status{ready("c1", 2), ready("c2", 2)}, account.StateReady},
		{"one missing", acc, two, []Status{ready("c1", 2)}, account.StateProvisioning},
		{"old generation", acc, two, []Status{ready("c1", 2), ready("c2", 1)}, account.StateProvisioning},
		{"one degraded", acc, two, []Status{ready("c1", 2), degraded}, account.StateDegraded},
		{"unhealthy cluster does not hold back", acc, []Cluster{{Name: "c1", LastHeartbeat: fresh}, {Name: "c2", LastHeartbeat: stale}},
			[]Status{ready("c1", 2)}, account.StateReady},
		{"deleting", account.Account{ID: "a", State: account.StateDeleting, Generation: 3}, two, nil, account.StateDeleting},
	} {
		if got := Derive(tc.acc, tc.clusters, tc.st, now); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	if h := (Cluster{LastHeartbeat: now.Add(-GoneAfter - time.Second)}).HealthAt(now); h != Gone {
		t.Errorf("health after GoneAfter = %s", h)
	}
}

func TestFinalizable(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	acc := account.Account{ID: "a", State: account.StateDeleting, Generation: 3}
	deleted := func(c string, gen int64) Status {
		return Status{Cluster: c, AccountID: "a", ObservedGeneration: gen, Deleted: true}
	}
	fresh, unhealthy, gone := now.Add(-time.Second), now.Add(-time.Minute), now.Add(-GoneAfter-time.Second)
	two := []Cluster{{Name: "c1", LastHeartbeat: fresh}, {Name: "c2", LastHeartbeat: unhealthy}}
	for _, tc := range []struct {
		name     string
		acc      account.Account
		clusters []Cluster
		st       []Status
		want     bool
	}{
		{"both deleted", acc, two, []Status{deleted("c1", 3), deleted("c2", 3)}, true},
		{"unhealthy cluster still has it", acc, two, []Status{deleted("c1", 3)}, false},
		{"report for an older generation", acc, two, []Status{deleted("c1", 3), deleted("c2", 2)}, false},
		{"still deleting", acc, two, []Status{deleted("c1", 3), {Cluster: "c2", AccountID: "a", ObservedGeneration: 3}}, false},
		{"gone cluster does not hold back", acc, []Cluster{{Name: "c1", LastHeartbeat: fresh}, {Name: "c2", LastHeartbeat: gone}},
			[]Status{deleted("c1", 3)}, true},
		{"not deleting", account.Account{ID: "a", State: account.StateReady, Generation: 3}, two,
			[]Status{deleted("c1", 3), deleted("c2", 3)}, false},
		{"no clusters", acc, nil, nil, true},
	} {
		if got := Finalizable(tc.acc, tc.clusters, tc.st, now); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestMergeHeartbeats(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	cl := MergeHeartbeats([]Cluster{{Name: "c1", LastHeartbeat: t0}, {Name: "c2", LastHeartbeat: t0}},
		map[string]time.Time{"c1": t0.Add(time.Minute), "c2": t0.Add(-time.Minute), "c3": t0})
	if !cl[0].LastHeartbeat.Equal(t0.Add(time.Minute)) || !cl[1].LastHeartbeat.Equal(t0) || len(cl) != 2 {
		t.Fatalf("merged %+v", cl)
	}
	// Health follows the merged beat: registered long ago, beating now.
	if h := cl[0].HealthAt(t0.Add(time.Minute + time.Second)); h != Healthy {
		t.Fatalf("health %s", h)
	}
}

func TestOwnedByOther(t *testing.T) {
	ours := map[string]string{LabelManagedBy: ManagedByValue, LabelAccountID: "a"}
	for _, tc := range []struct {
		name string
		ns   Namespace
		want bool
	}{
		{"ours", Namespace{Labels: ours}, false},
		{"labels edited away but applied by us", Namespace{AppliedByUs: true}, false},
		{"pre-existing", Namespace{}, true},
		{"another account's", Namespace{Labels: map[string]string{LabelManagedBy: ManagedByValue, LabelAccountID: "b"}, AppliedByUs: true}, true},
	} {
		if got := tc.ns.OwnedByOther("a"); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}

func TestStatusProvisioned(t *testing.T) {
	st := func(deleted bool, cs ...Condition) Status {
		return Status{Cluster: "c1", AccountID: "a", ObservedGeneration: 3, Deleted: deleted, Conditions: cs}
	}
	c := func(typ string, ok bool, reason string, gen int64) Condition {
		return Condition{Type: typ, Status: ok, Reason: reason, ObservedGeneration: gen}
	}
	for _, tc := range []struct {
		name   string
		s      Status
		gen    int64
		wantOK bool
	}{
		{"ready", st(false, c(CondApplied, true, ReasonApplied, 3), c(CondReady, true, ReasonActive, 3), c(CondDegraded, false, "", 3)), 3, true},
		{"quota failed after the namespace", st(false, c(CondApplied, false, ReasonQuotaFailed, 2), c(CondDegraded, true, ReasonQuotaFailed, 2)), 2, true},
		{"binding failed after the namespace", st(false, c(CondApplied, false, ReasonBindingFailed, 2), c(CondDegraded, true, ReasonBindingFailed, 2)), 2, true},
		{"drift being repaired", st(false, c(CondApplied, false, ReasonDrifted, 3), c(CondDegraded, true, ReasonDrifted, 3)), 0, true},
		{"missing being repaired", st(false, c(CondApplied, false, ReasonMissing, 3), c(CondDegraded, true, ReasonMissing, 3)), 0, true},
		{"apply failed", st(false, c(CondApplied, false, ReasonApplyFailed, 1), c(CondDegraded, true, ReasonApplyFailed, 1)), 0, false},
		{"owned by another", st(false, c(CondApplied, false, ReasonOwnedByOther, 1), c(CondDegraded, true, ReasonOwnedByOther, 1)), 0, false},
		{"deleting", st(false, c(CondDeleting, true, ReasonDeleteInProgress, 4)), 0, false},
		{"deleted", st(true, c(CondDeleting, false, "NamespaceDeleted", 4)), 0, false},
		{"nothing reported", Status{}, 0, false},
	} {
		if gen, ok := tc.s.Provisioned(); gen != tc.gen || ok != tc.wantOK {
			t.Errorf("%s: Provisioned() = %d, %v; want %d, %v", tc.name, gen, ok, tc.gen, tc.wantOK)
		}
	}
}
