package natsbus_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
)

func TestSubjectMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, subject string
		want            bool
	}{
		{"liveplane.events.account.>", "liveplane.events.account.a1.created", true},
		{"liveplane.events.account.>", "liveplane.events.account", false},
		{"liveplane.events.account.>", "liveplane.events.accounts.a1.created", false},
		{"liveplane.events.*.a1.created", "liveplane.events.account.a1.created", true},
		{"liveplane.events.*.a1.created", "liveplane.events.account.a2.created", false},
		{"liveplane.events.cluster.c1.registered", "liveplane.events.cluster.c1.registered", true},
		{"liveplane.events.cluster.c1", "liveplane.events.cluster.c1.registered", false},
		{"a.>.b", "a.x.b", false},
	} {
		if got := natsbus.SubjectMatches(tc.filter, tc.subject); got != tc.want {
			t.Errorf("%s ~ %s = %v", tc.filter, tc.subject, got)
		}
	}
}

func FuzzSubjectMatches(f *testing.F) {
	f.Add("liveplane.events.>", "liveplane.events.account.a.created")
	f.Add("a.*.c", "a.b.c")
	f.Fuzz(func(t *testing.T, filter, subject string) {
		// A subject (no wildcards) matches itself, and whatever matches is
		// decided without a panic.
		if subject != "" && !strings.ContainsAny(subject, "*>") && !natsbus.SubjectMatches(subject, subject) {
			t.Fatalf("%q does not match itself", subject)
		}
		_ = natsbus.SubjectMatches(filter, subject)
	})
}

// ReplayStatuses gives one cluster's reports in stream order, and nothing
// else: not another cluster's reports on the same subject, not the
// account's or the cluster's other events.
func TestReplayStatusesKeepsOneClustersReports(t *testing.T) {
	url, _ := natstest.Start(t)
	js := connectJS(t, url)
	pub := natsbus.NewEventPublisher(js)
	t0 := time.Now()
	publish := func(typ, agg string, data any) {
		t.Helper()
		if err := pub.Publish(t.Context(), domain.Event{ID: domain.NewID(), Type: typ, AggregateID: agg, AggregateVersion: 1, Time: t0, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	st := func(cluster, id string, gen int64) provisioning.Status {
		return provisioning.Status{Cluster: cluster, AccountID: id, Namespace: "lp-" + id, ObservedGeneration: gen, Time: t0.Add(time.Duration(gen) * time.Second),
			Conditions: []provisioning.Condition{{Type: provisioning.CondReady, Status: true, ObservedGeneration: gen}}}
	}
	publish(account.EventCreated, "a1", account.Account{ID: "a1", Name: "a1", State: account.StateProvisioning, Generation: 1})
	publish(provisioning.EventClusterRegistered, "c1", provisioning.Heartbeat{Cluster: "c1"})
	publish(provisioning.EventStatus, "a1", st("c1", "a1", 1))
	publish(provisioning.EventStatus, "a1", st("c2", "a1", 1))
	publish(provisioning.EventStatus, "a2", st("c1", "a2", 1))
	publish(provisioning.EventStatus, "a1", st("c1", "a1", 2))
	var got []string
	if err := natsbus.ReplayStatuses(t.Context(), js, "c1", func(s provisioning.Status) {
		got = append(got, fmt.Sprintf("%s/%s@%d", s.Cluster, s.AccountID, s.ObservedGeneration))
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"c1/a1@1", "c1/a2@1", "c1/a1@2"}; !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
}
