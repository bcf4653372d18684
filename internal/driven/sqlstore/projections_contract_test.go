package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

// The provisioning read model's contract, on both engines: folding is
// idempotent and order-tolerant, the checkpoint commits with the fold, a
// rebuild equals the live tables and swaps in, and deleted accounts are
// finalised on the write side.

func provEvents(n int) []domain.Event {
	t0 := time.Unix(1_700_000_000, 0).UTC()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	var evs []domain.Event
	add := func(typ, agg string, data any) {
		evs = append(evs, domain.Event{ID: domain.NewID(), Type: typ, AggregateID: agg, Time: at(len(evs)), Data: data})
	}
	for _, c := range []string{"c1", "c2"} {
		add(provisioning.EventClusterRegistered, c, provisioning.Heartbeat{Cluster: c, DaemonVersion: "v1"})
	}
	ready := func(a account.Account, c string, t time.Time) provisioning.Status {
		return provisioning.Status{Cluster: c, AccountID: a.ID, Namespace: "lp-" + a.Name, ObservedGeneration: a.Generation, Time: t,
			Conditions: []provisioning.Condition{{Type: provisioning.CondReady, Status: true, ObservedGeneration: a.Generation}}}
	}
	for i := range n {
		a := account.Account{ID: fmt.Sprintf("acct-%04d", i), Name: fmt.Sprintf("a%d", i), State: account.StateProvisioning, Generation: 1}
		if i%5 == 2 { // a report folded before the account itself
			add(provisioning.EventStatus, a.ID, ready(a, "c1", at(len(evs))))
		}
		add(account.EventCreated, a.ID, a)
		for _, c := range []string{"c1", "c2"} {
			add(provisioning.EventStatus, a.ID, ready(a, c, at(len(evs))))
		}
		if i%4 == 1 { // a late, older report and a stale account event: ignored
			add(provisioning.EventStatus, a.ID, provisioning.Status{Cluster: "c2", AccountID: a.ID, Namespace: "stale", Time: at(0)})
			stale := a
			stale.Name = "stale"
			add(account.EventUpdated, a.ID, stale)
		}
		if i%3 == 0 {
			a.State, a.Generation = account.StateDeleting, 2
			add(account.EventDeleted, a.ID, a)
			for _, c := range []string{"c1", "c2"} {
				add(provisioning.EventStatus, a.ID, provisioning.Status{Cluster: c, AccountID: a.ID, Namespace: "lp-" + a.Name,
					ObservedGeneration: 2, Deleted: true, Time: at(len(evs))})
			}
			if i%2 == 0 { // finalised: DELETED, and the read model's flag stays set
				a.State, a.Generation = account.StateDeleted, 3
				add(account.EventFinalized, a.ID, a)
			}
		}
	}
	add(provisioning.EventClusterHeartbeat, "c1", provisioning.Heartbeat{Cluster: "c1", DaemonVersion: "v2"})
	evs = append(evs, domain.Event{ID: domain.NewID(), Type: provisioning.EventClusterHeartbeat, AggregateID: "c2", Time: t0.Add(-time.Hour),
		Data: provisioning.Heartbeat{Cluster: "c2", DaemonVersion: "old"}}) // older than its registration: ignored
	return evs
}

func fold(t *testing.T, p *sqlstore.Projection, seq uint64, evs ...domain.Event) {
	t.Helper()
	err := p.Apply(context.Background(), seq, func(tx provisioning.ProjectionTx) error {
		for _, ev := range evs {
			if err := provisioning.Fold(context.Background(), tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("apply seq %d: %v", seq, err)
	}
}

func dump(t *testing.T, p *sqlstore.Projection) string {
	t.Helper()
	d, err := p.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestProjectionFoldIsIdempotent(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		live := s.Projection("proj")
		evs := provEvents(12)
		for i, ev := range evs {
			fold(t, live, uint64(i+1), ev)
		}
		want := dump(t, live)
		// Redeliveries in reverse order, and everything again: no change.
		for i := len(evs) - 1; i >= 0; i-- {
			fold(t, live, uint64(i+1), evs[i])
		}
		fold(t, live, uint64(len(evs)), evs...)
		if got := dump(t, live); got != want {
			t.Fatalf("replay changed the read model:\n%s\nwant\n%s", got, want)
		}
		if cp, err := live.Checkpoint(ctx); err != nil || cp != uint64(len(evs)) {
			t.Fatalf("checkpoint %d %v, want %d", cp, err, len(evs))
		}
		// A failing fold leaves neither rows nor checkpoint.
		boom := fmt.Errorf("boom")
		err := live.Apply(ctx, 10_000, func(tx provisioning.ProjectionTx) error {
			if err := tx.UpsertAccount(ctx, account.Account{ID: "zz", Name: "zz", State: account.StateReady, Generation: 9}); err != nil {
				return err
			}
			return boom
		})
		if err == nil || dump(t, live) != want {
			t.Fatalf("failed fold: err %v, read model changed", err)
		}
		if cp, _ := live.Checkpoint(ctx); cp != uint64(len(evs)) {
			t.Fatalf("checkpoint moved to %d on a failed fold", cp)
		}
		// Reads: statuses per account, clusters with their newest beat.
		st, err := live.Statuses(ctx, "acct-0000")
		if err != nil || len(st) != 2 || !st[0].Deleted || st[0].Cluster != "c1" {
			t.Fatalf("statuses %+v %v", st, err)
		}
		cl, err := live.Clusters(ctx)
		if err != nil || len(cl) != 2 || cl[0].DaemonVersion != "v2" {
			t.Fatalf("clusters %+v %v", cl, err)
		}
	})
}

func TestProjectionRebuildEqualsLive(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		live := s.Projection("proj")
		evs := provEvents(40)
		for i, ev := range evs {
			fold(t, live, uint64(i+1), ev)
		}
		rb, err := s.RebuildProjection(ctx, "proj")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(evs); i += 7 { // batches, as the rebuild command folds
			j := min(i+7, len(evs))
			fold(t, rb, uint64(j), evs[i:j]...)
		}
		want := dump(t, live)
		if got := dump(t, rb); got != want {
			t.Fatalf("rebuilt differs from live:\n%s\nwant\n%s", got, want)
		}
		// The fast path: folded in memory with the same rules, loaded once.
		mem := provisioning.NewMemory()
		for _, ev := range evs {
			if err := provisioning.Fold(ctx, mem, ev); err != nil {
				t.Fatal(err)
			}
		}
		rb, err = s.RebuildProjection(ctx, "proj")
		if err != nil {
			t.Fatal(err)
		}
		if err := rb.Load(ctx, mem, uint64(len(evs))); err != nil {
			t.Fatal(err)
		}
		if got := dump(t, rb); got != want {
			t.Fatalf("loaded from memory differs from live:\n%s\nwant\n%s", got, want)
		}
		if cp, err := rb.Checkpoint(ctx); err != nil || cp != uint64(len(evs)) {
			t.Fatalf("loaded checkpoint %d %v", cp, err)
		}
		if err := s.SwapRebuilt(ctx); err != nil {
			t.Fatal(err)
		}
		if got := dump(t, s.Projection("proj")); got != want {
			t.Fatalf("after the swap the live read model differs")
		}
		// The swapped-in tables take further folds (their keys survived
		// the rename), and a second rebuild works too.
		fold(t, s.Projection("proj"), uint64(len(evs)+1), evs[2])
		if _, err := s.RebuildProjection(ctx, "proj"); err != nil {
			t.Fatalf("second rebuild: %v", err)
		}
		if err := s.SwapRebuilt(ctx); err != nil {
			t.Fatalf("second swap: %v", err)
		}
	})
}

func TestAccountQuotaGroupAndFinalize(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		svc := service(s)
		q := account.Quota{CPU: "2", Memory: "4Gi", Pods: 20}
		c, err := svc.Create(admin, account.CreateInput{Name: "acme", Quota: q, Group: "acme-devs"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := svc.Get(admin, c.Account.ID)
		if err != nil || got.Quota != q || got.Group != "acme-devs" {
			t.Fatalf("get %+v %v", got, err)
		}
		empty, none := account.Quota{}, ""
		up, err := svc.Update(admin, account.UpdateInput{ID: c.Account.ID, Quota: &empty, Group: &none})
		if err != nil || !up.Quota.IsZero() || up.Group != "" || up.Generation != 2 {
			t.Fatalf("update %+v %v", up, err)
		}
		if again, _ := svc.Update(admin, account.UpdateInput{ID: c.Account.ID, Quota: &empty}); again.Generation != 2 {
			t.Fatalf("no-op update bumped the generation to %d", again.Generation)
		}
		if _, err := svc.Create(admin, account.CreateInput{Name: "bad", Quota: account.Quota{CPU: "lots"}}); !domain.Is(err, domain.CodeInvalid) {
			t.Fatalf("bad quota: %v", err)
		}
		del, err := svc.Delete(admin, c.Account.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The finalizer: registered clusters report Deleted -> DELETED.
		live := s.Projection("proj")
		now := time.Now()
		fold(t, live, 1, domain.Event{Type: provisioning.EventClusterRegistered, Time: now, Data: provisioning.Heartbeat{Cluster: "c1"}},
			domain.Event{Type: account.EventDeleted, Data: del})
		view := provisioning.NewView(live, nil, domain.SystemClock{})
		fin := provisioning.NewFinalizer(view, s.Accounts(), svc.Finalize)
		if done, err := fin.Check(ctx, del.ID); err != nil || done {
			t.Fatalf("finalised before any report: %v %v", done, err)
		}
		fold(t, live, 2, domain.Event{Type: provisioning.EventStatus, Data: provisioning.Status{
			Cluster: "c1", AccountID: del.ID, ObservedGeneration: del.Generation, Deleted: true, Time: now}})
		if n, err := fin.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("sweep finalised %d: %v", n, err)
		}
		final, err := svc.Get(admin, del.ID)
		if err != nil || final.State != account.StateDeleted || final.Generation != del.Generation+1 {
			t.Fatalf("after finalisation %+v %v", final, err)
		}
		if done, err := svc.Finalize(ctx, del.ID, del.Generation); err != nil || done {
			t.Fatalf("second finalise: %v %v", done, err)
		}
		if _, err := svc.Update(admin, account.UpdateInput{ID: del.ID, Group: &none}); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("update of a DELETED account: %v", err)
		}
		if list, err := s.Accounts().AccountsInState(ctx, account.StateDeleting, 10); err != nil || len(list) != 0 {
			t.Fatalf("deleting accounts %+v %v", list, err)
		}
		// The name is free again; a live account's name is not.
		if _, err := svc.Create(admin, account.CreateInput{Name: "acme"}); err != nil {
			t.Fatalf("reuse a finalised name: %v", err)
		}
		if _, err := svc.Create(admin, account.CreateInput{Name: "acme"}); !domain.Is(err, domain.CodeConflict) {
			t.Fatalf("duplicate of a live name: %v", err)
		}
	})
}
