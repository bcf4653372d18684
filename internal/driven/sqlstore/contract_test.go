package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/eventcodec"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

// engines runs the same contract on every engine; Postgres gets a fresh
// database per test.
func engines(t *testing.T, test func(t *testing.T, s *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, open(t, sqlstore.Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")}))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, open(t, sqlstore.Options{URL: pgtest.New(t)}))
	})
}

func open(t *testing.T, o sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var admin = account.WithPrincipal(context.Background(), account.Principal{Admin: true})

func service(s *sqlstore.Store) *account.Service {
	return account.NewService(s.Accounts(), domain.SystemClock{})
}

func TestAccountLifecycle(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		c, err := svc.Create(admin, account.CreateInput{Name: "acme", DisplayName: "Acme Inc.", WithAPIKey: true})
		if err != nil {
			t.Fatal(err)
		}
		if c.Account.State != account.StateProvisioning || c.Secret == "" {
			t.Fatalf("created %+v secret %q", c.Account, c.Secret)
		}
		// Read-your-writes.
		got, err := svc.Get(admin, c.Account.ID)
		if err != nil || got != c.Account {
			t.Fatalf("get after create: %+v %v, want %+v", got, err, c.Account)
		}
		if _, err := svc.Create(admin, account.CreateInput{Name: "acme"}); !domain.Is(err, domain.CodeConflict) {
			t.Fatalf("duplicate name: %v, want conflict", err)
		}
		name := "Acme"
		up, err := svc.Update(admin, account.UpdateInput{ID: c.Account.ID, DisplayName: &name, ExpectedGeneration: 1})
		if err != nil || up.Generation != 2 || up.DisplayName != "Acme" {
			t.Fatalf("update: %+v %v", up, err)
		}
		if _, err := svc.Update(admin, account.UpdateInput{ID: c.Account.ID, DisplayName: &name, ExpectedGeneration: 1}); !domain.Is(err, domain.CodeAborted) {
			t.Fatalf("stale update: %v, want aborted", err)
		}
		p, err := svc.Authenticate(context.Background(), c.Secret)
		if err != nil || p.AccountID != c.Account.ID {
			t.Fatalf("authenticate key: %+v %v", p, err)
		}
		del, err := svc.Delete(admin, c.Account.ID, 0)
		if err != nil || del.State != account.StateDeleting || del.Generation != 3 {
			t.Fatalf("delete: %+v %v", del, err)
		}
		if _, err := svc.Authenticate(context.Background(), c.Secret); !domain.Is(err, domain.CodeUnauthenticated) {
			t.Fatalf("key of deleted account: %v, want unauthenticated", err)
		}
		if _, err := svc.Get(admin, domain.NewID()); !domain.Is(err, domain.CodeNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})
}

func TestListPages(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		want := map[string]bool{}
		for i := 0; i < 23; i++ {
			c, err := svc.Create(admin, account.CreateInput{Name: fmt.Sprintf("a%02d", i)})
			if err != nil {
				t.Fatal(err)
			}
			want[c.Account.ID] = true
		}
		seen, pages, tok := map[string]bool{}, 0, ""
		for {
			list, next, err := svc.List(admin, account.ListInput{PageSize: 5, PageToken: tok})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, a := range list {
				if seen[a.ID] {
					t.Fatalf("account %s on two pages", a.ID)
				}
				seen[a.ID] = true
			}
			if next == "" {
				break
			}
			tok = next
		}
		if len(seen) != 23 || pages != 5 {
			t.Fatalf("saw %d accounts on %d pages, want 23 on 5", len(seen), pages)
		}
		if _, _, err := svc.List(admin, account.ListInput{PageSize: 5, PageToken: "garbage!"}); !domain.Is(err, domain.CodeInvalid) {
			t.Fatalf("bad page token: %v", err)
		}
	})
}

// Uniqueness is enforced by the database inside the transaction: of many
// concurrent creates of one name exactly one wins.
func TestConcurrentCreateSameName(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		var ok, conflict atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := svc.Create(admin, account.CreateInput{Name: "race"})
				switch {
				case err == nil:
					ok.Add(1)
				case domain.Is(err, domain.CodeConflict):
					conflict.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || conflict.Load() != 31 {
			t.Fatalf("ok=%d conflict=%d, want 1 and 31", ok.Load(), conflict.Load())
		}
		n := pendingCount(t, s)
		if n != 1 {
			t.Fatalf("outbox holds %d events, want 1 (failed creates must write nothing)", n)
		}
	})
}

// Optimistic concurrency: of concurrent updates expecting one generation,
// exactly one applies (Postgres locks the row; SQLite writes are serial).
func TestConcurrentConditionalUpdates(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		c, err := svc.Create(admin, account.CreateInput{Name: "occ"})
		if err != nil {
			t.Fatal(err)
		}
		var ok, aborted atomic.Int64
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				name := fmt.Sprintf("name %d", i)
				_, err := svc.Update(admin, account.UpdateInput{ID: c.Account.ID, DisplayName: &name, ExpectedGeneration: 1})
				switch {
				case err == nil:
					ok.Add(1)
				case domain.Is(err, domain.CodeAborted):
					aborted.Add(1)
				default:
					t.Error(err)
				}
			}(i)
		}
		wg.Wait()
		if ok.Load() != 1 || aborted.Load() != 15 {
			t.Fatalf("ok=%d aborted=%d, want 1 and 15", ok.Load(), aborted.Load())
		}
	})
}

// State and events commit together: the outbox holds exactly the events of
// committed use cases, in commit order, decodable, and MarkPublished removes
// them.
func TestOutboxAtomicWithState(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		c, err := svc.Create(admin, account.CreateInput{Name: "ob", WithAPIKey: true})
		if err != nil {
			t.Fatal(err)
		}
		name := "x"
		if _, err := svc.Update(admin, account.UpdateInput{ID: c.Account.ID, DisplayName: &name}); err != nil {
			t.Fatal(err)
		}
		// A transaction that fails after appending leaves nothing behind.
		boom := fmt.Errorf("boom")
		err = s.Accounts().Update(context.Background(), func(tx account.Tx) error {
			if err := tx.Append(context.Background(), domain.Event{ID: domain.NewID(), Type: account.EventUpdated,
				AggregateID: c.Account.ID, Time: time.Now(), Data: c.Account}); err != nil {
				return err
			}
			return boom
		})
		if err != boom {
			t.Fatalf("failing tx returned %v", err)
		}
		pending, err := s.PendingOutbox(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		var seqs []int64
		for i, e := range pending {
			ev, err := eventcodec.Decode(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			if e.ID != ev.ID || e.Subject != ev.Subject() || (i > 0 && e.Seq <= pending[i-1].Seq) {
				t.Fatalf("entry %d: %+v vs event %+v", i, e, ev)
			}
			types = append(types, ev.Type)
			seqs = append(seqs, e.Seq)
		}
		want := []string{account.EventCreated, account.EventAPIKeyCreated, account.EventUpdated}
		if fmt.Sprint(types) != fmt.Sprint(want) {
			t.Fatalf("outbox types %v, want %v", types, want)
		}
		if err := s.MarkPublished(context.Background(), seqs[:2]); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkPublished(context.Background(), seqs[:2]); err != nil { // idempotent
			t.Fatal(err)
		}
		if n := pendingCount(t, s); n != 1 {
			t.Fatalf("pending after mark = %d, want 1", n)
		}
	})
}

// A failing or panicking transaction in a group commit rolls back alone.
func TestFailingTransactionDoesNotSpoilOthers(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		var wg sync.WaitGroup
		errs := make([]error, 64)
		for i := range errs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if i%8 == 0 {
					errs[i] = s.Accounts().Update(context.Background(), func(tx account.Tx) error { panic("bad use case") })
					return
				}
				_, errs[i] = svc.Create(admin, account.CreateInput{Name: fmt.Sprintf("g%d", i%32)})
			}(i)
		}
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch {
			case i%8 == 0:
				if !domain.Is(err, domain.CodeInternal) {
					t.Errorf("panicking tx %d: %v", i, err)
				}
			case err == nil:
				created++
			case !domain.Is(err, domain.CodeConflict):
				t.Errorf("create %d: %v", i, err)
			}
		}
		list, _, err := svc.List(admin, account.ListInput{PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		if created != 28 || len(list) != 28 {
			t.Fatalf("created %d, listed %d, want 28 (32 names minus the 4 only panics would have used)", created, len(list))
		}
	})
}

// A use case alone in its group (SQLite runs it without a savepoint) that
// wrote and then failed leaves nothing behind, and the next one commits.
func TestLoneFailingTransactionLeavesNothing(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		now := time.Now()
		boom := fmt.Errorf("boom")
		err := s.Accounts().Update(ctx, func(tx account.Tx) error {
			if err := tx.InsertAccount(ctx, account.Account{ID: domain.NewID(), Name: "ghost", State: account.StateProvisioning, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			return boom
		})
		if err != boom {
			t.Fatalf("failing use case: %v", err)
		}
		if _, err := service(s).Create(admin, account.CreateInput{Name: "real"}); err != nil {
			t.Fatal(err)
		}
		list, _, err := service(s).List(admin, account.ListInput{PageSize: 10})
		if err != nil || len(list) != 1 || list[0].Name != "real" {
			t.Fatalf("accounts after a failed lone use case: %+v %v", list, err)
		}
	})
}

func TestAdminTokenOnce(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		tok, err := svc.EnsureAdminToken(context.Background())
		if err != nil || tok == "" {
			t.Fatalf("first: %q %v", tok, err)
		}
		again, err := svc.EnsureAdminToken(context.Background())
		if err != nil || again != "" {
			t.Fatalf("second: %q %v, want none", again, err)
		}
		p, err := svc.Authenticate(context.Background(), tok)
		if err != nil || !p.Admin {
			t.Fatalf("admin auth: %+v %v", p, err)
		}
		for _, bad := range []string{"", "lpa_nope", tok + "x", "Bearer " + tok, "lpk_" + tok[4:]} {
			if _, err := svc.Authenticate(context.Background(), bad); !domain.Is(err, domain.CodeUnauthenticated) {
				t.Errorf("token %q: %v, want unauthenticated", bad, err)
			}
		}
	})
}

func pendingCount(t *testing.T, s *sqlstore.Store) int {
	t.Helper()
	p, err := s.PendingOutbox(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	return len(p)
}

// A read-modify-write reads under a lock: a second writer that reads while
// the first holds the row sees the first one's result, never the old row.
func TestReadForUpdateSerialises(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		svc := service(s)
		c, err := svc.Create(admin, account.CreateInput{Name: "lock"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		bump := func(hold time.Duration, read chan<- struct{}) (seen int64, err error) {
			err = s.Accounts().Update(ctx, func(tx account.Tx) error {
				a, err := tx.Account(ctx, c.Account.ID)
				if err != nil {
					return err
				}
				seen = a.Generation
				if read != nil {
					close(read)
				}
				time.Sleep(hold)
				a.Generation++
				return tx.UpdateAccount(ctx, a)
			})
			return seen, err
		}
		read := make(chan struct{})
		first := make(chan error, 1)
		go func() { _, err := bump(200*time.Millisecond, read); first <- err }()
		<-read
		seen, err := bump(0, nil)
		if err != nil || <-first != nil {
			t.Fatal(err)
		}
		if seen != 2 {
			t.Fatalf("second writer read generation %d while the first held the row; want 2", seen)
		}
	})
}
