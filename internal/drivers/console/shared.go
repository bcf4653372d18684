package console

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// Shared tells the replicas that share the console secret which sessions
// were signed out and which relay tickets were used, so a sign-out on one
// replica ends the session on all of them and a ticket opens one relay
// connection in the whole deployment. Without it (nil), each process keeps
// its own record and both hold per process only.
type Shared interface {
	// SignOut records a signed-out session id until the session would have
	// expired.
	SignOut(ctx context.Context, sid string, until time.Time) error
	// SignedOut reports whether sid was signed out on any replica. It
	// answers from memory: another replica's sign-out is seen within the
	// bus's delivery time.
	SignedOut(sid string) bool
	// UseOnce records a ticket id as used until it expires; the first
	// caller in the deployment gets nil, every later one a domain error of
	// code CodeConflict.
	UseOnce(ctx context.Context, id string, until time.Time) error
}

// sharedWait bounds a call to Shared from a request.
const sharedWait = 2 * time.Second

func sidKey(sid [sidLen]byte) string { return hex.EncodeToString(sid[:]) }

// signOutShared records s as signed out for the other replicas. The sign-out
// already holds here and the browser's cookie is gone; a failure is logged,
// and the other replicas keep accepting a copy of the cookie until it
// expires.
func (c *Console) signOutShared(ctx context.Context, s session) {
	if c.opt.Shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedWait)
	defer cancel()
	if err := c.opt.Shared.SignOut(ctx, sidKey(s.sid), s.expires); err != nil {
		c.opt.Logger.Warn("console sign-out not shared with the other replicas", "err", err)
	}
}

// signedOutShared reports another replica's sign-out of sid.
func (c *Console) signedOutShared(sid [sidLen]byte) bool {
	return c.opt.Shared != nil && c.opt.Shared.SignedOut(sidKey(sid))
}

// useTicketShared makes t's single use hold across replicas. Without the
// bus a ticket cannot be proven unused, so it is refused (503: the page asks
// again, and a relay retries).
func (c *Console) useTicketShared(ctx context.Context, t ticket) error {
	if c.opt.Shared == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, sharedWait)
	defer cancel()
	switch err := c.opt.Shared.UseOnce(ctx, hex.EncodeToString(t.tid[:]), t.expires); {
	case domain.Is(err, domain.CodeConflict):
		return errTicketUsed
	case err != nil:
		c.opt.Logger.Warn("console ticket: single use cannot be checked", "err", err)
		return errTicketsUnchecked
	}
	return nil
}
