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
