package provisioning

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
)

// Finalizable reports whether a DELETING account may turn DELETED: every
// registered cluster that is not gone reported Deleted (its namespace
// really gone) for the account's current generation. A gone cluster does
// not hold deletion back; its daemon still deletes the namespace when it
// returns (it sees the DELETED account).
func Finalizable(a account.Account, clusters []Cluster, statuses []Status, now time.Time) bool {
	if a.State != account.StateDeleting {
		return false
	}
	by := map[string]Status{}
	for _, s := range statuses {
		by[s.Cluster] = s
	}
	for _, c := range clusters {
		if c.HealthAt(now) == Gone {
			continue
		}
		s, ok := by[c.Name]
		if !ok || !s.Deleted || s.ObservedGeneration < a.Generation {
			return false
		}
	}
	return true
}

// AccountSource is the write side's accounts, as the finalizer reads them.
type AccountSource interface {
	Account(ctx context.Context, id string) (account.Account, error)
	// AccountsInState lists up to limit accounts in state, in id order.
	AccountsInState(ctx context.Context, state account.State, limit int) ([]account.Account, error)
}

// FinalizeFunc records the finalisation in the system of record
// (account.Service.Finalize): a no-op unless the account is still DELETING
// at generation gen.
type FinalizeFunc func(ctx context.Context, id string, gen int64) (bool, error)

// Finalizer turns DELETING accounts into DELETED once Finalizable. Check is
// called after a Deleted report is folded; Sweep periodically covers
// clusters that turned gone meanwhile.
type Finalizer struct {
	view     *View
	accounts AccountSource
	finalize FinalizeFunc
}

func NewFinalizer(view *View, accounts AccountSource, finalize FinalizeFunc) *Finalizer {
	return &Finalizer{view: view, accounts: accounts, finalize: finalize}
}

// Check finalises one account when it may be.
func (f *Finalizer) Check(ctx context.Context, id string) (bool, error) {
	const op = "provisioning.Finalize"
	a, err := f.accounts.Account(ctx, id)
	if domain.Is(err, domain.CodeNotFound) {
		return false, nil
	}
	if err != nil {
		return false, domain.Wrap(op, err)
	}
	return f.check(ctx, a)
}

func (f *Finalizer) check(ctx context.Context, a account.Account) (bool, error) {
	const op = "provisioning.Finalize"
	if a.State != account.StateDeleting {
		return false, nil
	}
	cl, err := f.view.clusters(ctx)
	if err != nil {
		return false, domain.Wrap(op, err)
	}
	st, err := f.view.rm.Statuses(ctx, a.ID)
	if err != nil {
		return false, domain.Wrap(op, err)
	}
	if !Finalizable(a, cl, st, f.view.clock.Now()) {
		return false, nil
	}
	done, err := f.finalize(ctx, a.ID, a.Generation)
	return done, domain.Wrap(op, err)
}

// sweepLimit bounds one sweep; the next sweep takes the rest.
const sweepLimit = 1000

// Sweep checks every DELETING account and returns how many it finalised.
func (f *Finalizer) Sweep(ctx context.Context) (int, error) {
	list, err := f.accounts.AccountsInState(ctx, account.StateDeleting, sweepLimit)
	if err != nil {
		return 0, domain.Wrap("provisioning.Sweep", err)
	}
	n := 0
	for _, a := range list {
		done, err := f.check(ctx, a)
		if err != nil {
			return n, err
		}
		if done {
			n++
		}
	}
	return n, nil
}
