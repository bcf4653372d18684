package daemon

import (
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// reportDrift's decision on an account's first reconcile after a start,
// case by case; the real-apiserver test covers the common ones end to end.
func TestReportDriftAfterAStart(t *testing.T) {
	a := account.Account{ID: "a1", Name: "one", State: account.StateProvisioning, Generation: 3}
	labels := func(managedBy, id, gen string) map[string]string {
		return map[string]string{provisioning.LabelManagedBy: managedBy, provisioning.LabelAccountID: id, provisioning.LabelGeneration: gen}
	}
	ready := func(gen int64) *provisioning.Status {
		return &provisioning.Status{Cluster: "c1", AccountID: a.ID, ObservedGeneration: gen, Conditions: []provisioning.Condition{
			cond(provisioning.CondApplied, true, provisioning.ReasonApplied, "", gen),
			cond(provisioning.CondReady, true, provisioning.ReasonActive, "", gen),
		}}
	}
	applyFailed := &provisioning.Status{Cluster: "c1", AccountID: a.ID, ObservedGeneration: 1, Conditions: []provisioning.Condition{
		cond(provisioning.CondApplied, false, provisioning.ReasonApplyFailed, "refused", 1),
		cond(provisioning.CondDegraded, true, provisioning.ReasonApplyFailed, "refused", 1),
	}}
	for _, tc := range []struct {
		name  string
		rec   *provisioning.Status // the control plane's last report; nil: none
		ns    provisioning.Namespace
		found bool
		want  bool
	}{
		{"missing, reported Ready before", ready(2), provisioning.Namespace{}, false, true},
		{"missing, never reported", nil, provisioning.Namespace{}, false, false},
		{"missing, only an apply failure reported", applyFailed, provisioning.Namespace{}, false, false},
		{"missing, another cluster's report", &provisioning.Status{Cluster: "c2", AccountID: a.ID, Conditions: ready(3).Conditions}, provisioning.Namespace{}, false, false},
		{"terminating, ours", nil, provisioning.Namespace{Labels: labels("liveplane", "a1", "3"), Terminating: true}, true, true},
		{"managed-by edited away", nil, provisioning.Namespace{Labels: labels("", "a1", "3"), AppliedByUs: true}, true, true},
		{"generation never had", nil, provisioning.Namespace{Labels: labels("liveplane", "a1", "7")}, true, true},
		{"generation not a number", ready(3), provisioning.Namespace{Labels: labels("liveplane", "a1", "x")}, true, true},
		{"generation lowered below the one applied", ready(3), provisioning.Namespace{Labels: labels("liveplane", "a1", "1")}, true, true},
		{"spec changed while down", ready(2), provisioning.Namespace{Labels: labels("liveplane", "a1", "2")}, true, false},
		{"spec changed while down, no report", nil, provisioning.Namespace{Labels: labels("liveplane", "a1", "1")}, true, false},
	} {
		d := New(nil, nil, Options{Cluster: "c1"})
		if tc.rec != nil {
			s := *tc.rec
			s.Time = time.Now()
			d.SeedStatus(s)
		}
		for _, resync := range []bool{true, false} {
			if got := d.reportDrift(a, tc.ns, tc.found, resync); got != tc.want {
				t.Errorf("%s (resync %v): reportDrift = %v, want %v", tc.name, resync, got, tc.want)
			}
		}
	}

	// The newer report wins, whatever the order of the replay.
	d := New(nil, nil, Options{Cluster: "c1"})
	now := time.Now()
	newer, older := *ready(2), *applyFailed
	newer.Time, older.Time = now, now.Add(-time.Second)
	d.SeedStatus(newer)
	d.SeedStatus(older)
	if !d.reportDrift(a, provisioning.Namespace{}, false, true) {
		t.Error("an older report replaced a newer one")
	}

	// Once this process recorded a status, a resync reports drift and an
	// event does not, as before.
	d = New(nil, nil, Options{Cluster: "c1"})
	d.setStatus(*ready(3), false)
	if !d.reportDrift(a, provisioning.Namespace{}, false, true) || d.reportDrift(a, provisioning.Namespace{}, false, false) {
		t.Error("a running daemon's rule changed")
	}

	// A running daemon that applied generation 2 and was given 3: a resync
	// reports what liveplane never labelled, not a spec change still to
	// apply (a namespace at 2, or at 3's predecessor an older process
	// applied, while 3's event waits or fails).
	for _, tc := range []struct {
		name string
		ns   provisioning.Namespace
		want bool
	}{
		{"at the generation applied", provisioning.Namespace{Labels: labels("liveplane", "a1", "2")}, false},
		{"lowered below the generation applied", provisioning.Namespace{Labels: labels("liveplane", "a1", "1")}, true},
		{"generation never had", provisioning.Namespace{Labels: labels("liveplane", "a1", "7")}, true},
		{"generation not a number", provisioning.Namespace{Labels: labels("liveplane", "a1", "x")}, true},
		{"managed-by edited away", provisioning.Namespace{Labels: labels("", "a1", "2")}, true},
		{"another account's id", provisioning.Namespace{Labels: labels("liveplane", "a2", "2")}, true},
		{"terminating", provisioning.Namespace{Labels: labels("liveplane", "a1", "2"), Terminating: true}, true},
	} {
		d := New(nil, nil, Options{Cluster: "c1"})
		d.markReady(account.Account{ID: a.ID, Name: a.Name, Generation: 2}, provisioning.Status{Cluster: "c1", AccountID: a.ID, ObservedGeneration: 2})
		if got := d.reportDrift(a, tc.ns, true, true); got != tc.want {
			t.Errorf("running, %s: resync reportDrift = %v, want %v", tc.name, got, tc.want)
		}
		if d.reportDrift(a, tc.ns, true, false) {
			t.Errorf("running, %s: an event reported drift", tc.name)
		}
	}

	// The generation a replayed report showed applied outlives the report
	// once this process records a status: labels below it stay drift.
	d = New(nil, nil, Options{Cluster: "c1"})
	rec := *ready(3)
	rec.Time = time.Now()
	d.SeedStatus(rec)
	d.setStatus(provisioning.Status{Cluster: "c1", AccountID: a.ID, ObservedGeneration: 3, Conditions: applyFailed.Conditions}, false)
	if !d.reportDrift(a, provisioning.Namespace{Labels: labels("liveplane", "a1", "2")}, true, true) {
		t.Error("labels below the generation reported applied before the start were not drift")
	}
}
