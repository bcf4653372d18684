package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
)

// A DELETED account (a tombstone) is left out of List unless asked for;
// DELETING ones stay. The store filters in its query, so runs of tombstones
// longer than a page, at the start and at the end, never make a page short
// or empty while live accounts remain, and the last full page says so.
func TestListHidesDeletedAccounts(t *testing.T) {
	engines(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		svc := service(s)
		// 23 accounts in creation (id) order: 0..6 and 16..22 DELETED (runs of
		// 7), 10, 12 and 14 DELETED between live ones, 8 DELETING.
		deleted := func(i int) bool { return i <= 6 || i >= 16 || i == 10 || i == 12 || i == 14 }
		var ids []string
		state := map[string]account.State{}
		for i := 0; i < 23; i++ {
			c, err := svc.Create(admin, account.CreateInput{Name: fmt.Sprintf("t%02d", i)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.Account.ID)
			state[c.Account.ID] = c.Account.State
		}
		for i, id := range ids {
			if !deleted(i) && i != 8 {
				continue
			}
			del, err := svc.Delete(admin, id, 0)
			if err != nil {
				t.Fatal(err)
			}
			state[id] = del.State
			if i == 8 {
				continue
			}
			if done, err := svc.Finalize(ctx, id, del.Generation); err != nil || !done {
				t.Fatalf("finalise %d: %v %v", i, done, err)
			}
			state[id] = account.StateDeleted
		}
		live := 0
		for _, st := range state {
			if st != account.StateDeleted {
				live++
			}
		}
		if live != 6 || state[ids[8]] != account.StateDeleting {
			t.Fatalf("set-up: %d live accounts, account 8 %s; want 6 and DELETING", live, state[ids[8]])
		}

		for _, tc := range []struct {
			withDeleted bool
			want        int
		}{{false, live}, {true, len(ids)}} {
			for _, size := range []int{1, 2, 3, 5, 6, 500} {
				seen, pages, tok := map[string]bool{}, 0, ""
				for {
					list, next, err := svc.List(admin, account.ListInput{PageSize: size, PageToken: tok, IncludeDeleted: tc.withDeleted})
					if err != nil {
						t.Fatal(err)
					}
					pages++
					if len(list) == 0 || (next != "" && len(list) != size) {
						t.Fatalf("deleted=%v size %d: page %d holds %d accounts, next %q; only the last page may be short, none empty",
							tc.withDeleted, size, pages, len(list), next)
					}
					for _, a := range list {
						if seen[a.ID] {
							t.Fatalf("deleted=%v size %d: account %s on two pages", tc.withDeleted, size, a.ID)
						}
						seen[a.ID] = true
						if a.State != state[a.ID] {
							t.Fatalf("account %s listed as %s, want %s", a.ID, a.State, state[a.ID])
						}
						if a.State == account.StateDeleted && !tc.withDeleted {
							t.Fatalf("size %d: DELETED account %s listed by default", size, a.ID)
						}
					}
					if next == "" {
						break
					}
					tok = next
				}
				if wantPages := (tc.want + size - 1) / size; len(seen) != tc.want || pages != wantPages {
					t.Fatalf("deleted=%v size %d: %d accounts on %d pages, want %d on %d",
						tc.withDeleted, size, len(seen), pages, tc.want, wantPages)
				}
			}
		}

		// An account key sees only its own account, and a tombstone only
		// when asked (its keys are revoked, so this is the principal alone).
		own := account.WithPrincipal(ctx, account.Principal{AccountID: ids[0]})
		if list, next, err := svc.List(own, account.ListInput{}); err != nil || len(list) != 0 || next != "" {
			t.Fatalf("own DELETED account by default: %v %q %v", list, next, err)
		}
		if list, _, err := svc.List(own, account.ListInput{IncludeDeleted: true}); err != nil || len(list) != 1 || list[0].ID != ids[0] {
			t.Fatalf("own DELETED account with IncludeDeleted: %v %v", list, err)
		}
	})
}
