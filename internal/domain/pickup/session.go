package pickup

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
)

// Drain hands out at most this much per notification.
const (
	drainCount = 64
	drainBytes = 256 << 10
)

// AddLiveSession gives the connection's lease to the calling socket with a
// new epoch. A previous holder is told it was superseded; what was in flight
// to it moves here after TakeoverGrace (unless it is removed first). Call
// Drain with the returned lease once the answer is on its way, so the queue
// follows the answer. Messages added from the moment the lease exists are
// delivered live (Delivery.Backlog false): a holder keeps those back until
// its Drain returns, or they overtake the backlog.
func (s *Service) AddLiveSession(ctx context.Context, c Client, connectionID, sessionID string) (Lease, error) {
	const op = "pickup.AddLiveSession"
	if err := checkConnection(op, connectionID); err != nil {
		return Lease{}, err
	}
	if err := checkText(op, "sessionId", sessionID, true, maxIDLen); err != nil {
		return Lease{}, err
	}
	now := s.clock.Now()
	lease, prev, err := s.store.StartSession(ctx, Lease{
		Account: c.Account, ConnectionID: connectionID, SessionID: sessionID, Holder: c.Holder,
	}, now.Add(s.opt.TakeoverGrace))
	if err != nil {
		return Lease{}, domain.Wrap(op, err)
	}
	if prev.Held() {
		s.notify.Revoke(ctx, Revocation{Holder: prev.Holder, Account: prev.Account, ConnectionID: prev.ConnectionID, Epoch: prev.Epoch})
	}
	return lease, nil
}

// RemoveLiveSession ends the connection's lease if the calling socket holds
// it (and, when sessionID is given, it is that session). A late remove from
// a superseded holder finds the lease taken and changes nothing: it reports
// false.
func (s *Service) RemoveLiveSession(ctx context.Context, c Client, connectionID, sessionID string) (bool, error) {
	const op = "pickup.RemoveLiveSession"
	if err := checkConnection(op, connectionID); err != nil {
		return false, err
	}
	if err := checkText(op, "sessionId", sessionID, false, maxIDLen); err != nil {
		return false, err
	}
	ended, ok, err := s.store.EndSession(ctx, c.Account, connectionID, sessionID, c.Holder, s.clock.Now().Add(s.opt.TakeoverGrace))
	if err != nil {
		return false, domain.Wrap(op, err)
	}
	if ok {
		s.notify.Revoke(ctx, Revocation{Holder: ended.Holder, Account: ended.Account, ConnectionID: ended.ConnectionID, Epoch: ended.Epoch})
	}
	return ok, nil
}

// LiveSession is getLiveSession: whether a healthy holder has the lease.
func (s *Service) LiveSession(ctx context.Context, c Client, connectionID string) (bool, error) {
	const op = "pickup.LiveSession"
	if err := checkConnection(op, connectionID); err != nil {
		return false, err
	}
	_, ok, err := s.store.LiveSession(ctx, c.Account, connectionID, s.clock.Now())
	return ok, domain.Wrap(op, err)
}

// SocketClosed ends every lease the socket held; their in-flight messages
// return after TakeoverGrace.
func (s *Service) SocketClosed(ctx context.Context, h Holder) error {
	_, err := s.store.EndHolder(ctx, h, s.clock.Now().Add(s.opt.TakeoverGrace))
	return domain.Wrap("pickup.SocketClosed", err)
}

// Drain delivers the connection's pending messages to lease l, in FIFO
// batches, for as long as l is its lease. It is how a new session receives
// what was queued before it, and how requeued messages find the holder.
func (s *Service) Drain(ctx context.Context, l Lease) {
	// Bounded: the quota bounds the queue, and each pass claims at least one
	// message or stops.
	passes := int(s.opt.Limits.MaxMessages/drainCount) + 2
	for range passes {
		msgs, err := s.store.Claim(ctx, l, s.clock.Now().Add(s.opt.AckTimeout), drainCount, drainBytes)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("pickup: draining to a live session", "connection", l.ConnectionID, "err", err)
			}
			return
		}
		if len(msgs) == 0 {
			return
		}
		s.notify.Deliver(ctx, Delivery{Lease: l, Messages: msgs, Backlog: true})
		s.metrics.delivered(len(msgs))
	}
}
