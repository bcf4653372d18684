package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/liveplane/liveplane/internal/domain/pickup"
	"github.com/liveplane/liveplane/internal/drivers/pickupgw"
)

// pickupRouter is the pickup Notifier across instances. The store says
// which instance holds a lease, so a delivery goes to that instance's own
// subject, liveplane.pickup.<instance>, on core NATS: one subscription per
// process instead of one per session, and a message for a lease that moved
// meanwhile reaches the old holder, whose hub drops it (revoked epoch) or
// no socket at all. Core NATS is at most once, and that is enough: the
// message is in flight in the store and comes back at its deadline.
type pickupRouter struct {
	self string
	hub  *pickupgw.Hub
	nc   *nats.Conn
	log  *slog.Logger
}

var _ pickup.Notifier = (*pickupRouter)(nil)

func pickupSubject(instance string) string { return "liveplane.pickup." + instance }

// routed is what travels between instances.
type routed struct {
	Delivery   *pickup.Delivery   `json:"d,omitempty"`
	Revocation *pickup.Revocation `json:"r,omitempty"`
}

func (r *pickupRouter) Deliver(ctx context.Context, d pickup.Delivery) {
	if d.Lease.Holder.Instance == r.self {
		r.hub.Deliver(ctx, d)
		return
	}
	r.publish(d.Lease.Holder.Instance, routed{Delivery: &d})
}

func (r *pickupRouter) Revoke(ctx context.Context, v pickup.Revocation) {
	if v.Holder.Instance == r.self {
		r.hub.Revoke(ctx, v)
		return
	}
	r.publish(v.Holder.Instance, routed{Revocation: &v})
}

func (r *pickupRouter) publish(instance string, m routed) {
	b, err := json.Marshal(m)
	if err == nil {
		err = r.nc.Publish(pickupSubject(instance), b)
	}
	if err != nil {
		r.log.Warn("pickup: routing to another instance", "instance", instance, "err", err)
	}
}

func (r *pickupRouter) subscribe() (*nats.Subscription, error) {
	sub, err := r.nc.Subscribe(pickupSubject(r.self), func(msg *nats.Msg) {
		var m routed
		if err := json.Unmarshal(msg.Data, &m); err != nil {
			r.log.Warn("pickup: undecodable routed message", "err", err)
			return
		}
		ctx := context.Background()
		if m.Delivery != nil {
			r.hub.Deliver(ctx, *m.Delivery)
		}
		if m.Revocation != nil {
			r.hub.Revoke(ctx, *m.Revocation)
		}
	})
	if err != nil {
		return nil, err
	}
	// Deliveries arrive in bursts; a slow hub must not make NATS drop them.
	_ = sub.SetPendingLimits(1<<20, 1<<30)
	return sub, r.nc.FlushTimeout(5 * time.Second)
}
