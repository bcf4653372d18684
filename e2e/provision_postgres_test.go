package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/testinfra/natstest"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// The read model on PostgreSQL with an external NATS, without clusters:
// status reports published as a daemon would make accounts READY, a
// deleted account is finalised once its cluster reports Deleted, and
// `projections rebuild` beside the running serve (allowed with --database
// and --nats) rebuilds tables equal to the live ones, then swaps them in.
func TestProjectionRebuildOnPostgres(t *testing.T) {
	db := pgtest.New(t)
	natsURL, _ := natstest.Start(t)
	srv := startServe(t, "", nil, "--database", db, "--nats", natsURL)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	publish := func(ev domain.Event) {
		t.Helper()
		b, err := eventcodec.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, ev.Subject(), b, jetstream.WithMsgID(ev.ID)); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	publish(domain.Event{ID: domain.NewID(), Type: provisioning.EventClusterRegistered, AggregateID: "pg1", Time: now,
		Data: provisioning.Heartbeat{Cluster: "pg1", DaemonVersion: "e2e"}})
	api := srv.accounts(bearer(srv.token))
	var ids []string
	for i := range 5 {
		res, err := api.CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{Name: fmt.Sprintf("pg-%d", i),
			Quota: &lpv1.ResourceQuota{Cpu: "1"}, Group: "devs"}))
		if err != nil {
			t.Fatal(err)
		}
		a := res.Msg.GetAccount()
		ids = append(ids, a.GetId())
		publish(domain.Event{ID: domain.NewID(), Type: provisioning.EventStatus, AggregateID: a.GetId(), Time: time.Now(),
			Data: provisioning.Status{Cluster: "pg1", AccountID: a.GetId(), Namespace: "lp-" + a.GetName(), ObservedGeneration: 1, Time: time.Now(),
				Conditions: []provisioning.Condition{{Type: provisioning.CondReady, Status: true, ObservedGeneration: 1}}}})
	}
	waitFor(t, 10*time.Second, "READY on PostgreSQL", func() bool {
		return getAccount(t, srv, ids[4]).GetState() == lpv1.AccountState_ACCOUNT_STATE_READY
	})
	del, err := api.DeleteAccount(ctx, connect.NewRequest(&lpv1.DeleteAccountRequest{Id: ids[0]}))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if s := getAccount(t, srv, ids[0]).GetState(); s != lpv1.AccountState_ACCOUNT_STATE_DELETING {
		t.Fatalf("before any Deleted report: %v", s)
	}
	publish(domain.Event{ID: domain.NewID(), Type: provisioning.EventStatus, AggregateID: ids[0], Time: time.Now(),
		Data: provisioning.Status{Cluster: "pg1", AccountID: ids[0], Namespace: "lp-pg-0", ObservedGeneration: del.Msg.GetAccount().GetGeneration(),
			Deleted: true, Time: time.Now()}})
	waitFor(t, 10*time.Second, "finalised DELETED", func() bool {
		return getAccount(t, srv, ids[0]).GetState() == lpv1.AccountState_ACCOUNT_STATE_DELETED
	})
	time.Sleep(500 * time.Millisecond) // the projection folds account.finalized
	for _, swap := range []bool{false, true} {
		args := []string{"projections", "rebuild", "--data-dir", t.TempDir(), "--database", db, "--nats", natsURL}
		if swap {
			args = append(args, "--swap")
		}
		out, errOut, code := cli(t, nil, args...)
		if code != 0 || !strings.Contains(out, "equal to the live read model") {
			t.Fatalf("rebuild (swap=%v): exit %d\n%s%s", swap, code, out, errOut)
		}
		t.Log(strings.TrimSpace(out))
	}
	// The swapped-in tables serve and take new folds.
	if s := getAccount(t, srv, ids[1]).GetState(); s != lpv1.AccountState_ACCOUNT_STATE_READY {
		t.Fatalf("after the swap: %v", s)
	}
	res, err := api.CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{Name: "pg-0"}))
	if err != nil {
		t.Fatalf("reuse a finalised name: %v", err)
	}
	id := res.Msg.GetAccount().GetId()
	publish(domain.Event{ID: domain.NewID(), Type: provisioning.EventStatus, AggregateID: id, Time: time.Now(),
		Data: provisioning.Status{Cluster: "pg1", AccountID: id, Namespace: "lp-pg-0", ObservedGeneration: 1, Time: time.Now(),
			Conditions: []provisioning.Condition{{Type: provisioning.CondReady, Status: true, ObservedGeneration: 1}}}})
	waitFor(t, 10*time.Second, "READY after the swap", func() bool {
		return getAccount(t, srv, id).GetState() == lpv1.AccountState_ACCOUNT_STATE_READY
	})
}
