package daemon

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// readyAt reports whether Ready at gen is what was last recorded.
func (d *Daemon) readyAt(id string, gen int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.status[id]
	if !ok || s.ObservedGeneration != gen || s.Deleted {
		return false
	}
	c, ok := s.Cond(provisioning.CondReady)
	return ok && c.Status
}

// setStatus records what to report. With now, it is published before
// returning (best effort), so a transient state is not coalesced away.
func (d *Daemon) setStatus(st provisioning.Status, now bool) {
	d.mu.Lock()
	d.status[st.AccountID] = st
	if rec, ok := d.recorded[st.AccountID]; ok {
		// Superseded: reportDrift reads status now, and keeps the
		// generation the report showed applied.
		g, _ := rec.Provisioned()
		d.noteAppliedLocked(st.AccountID, g)
		delete(d.recorded, st.AccountID)
	}
	d.mu.Unlock()
	if now {
		d.publishPending(context.Background())
		return
	}
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// statusLoop publishes changed statuses: on a wake-up, and every second for
// those whose publish failed. A crash before a publish loses nothing: after
// a restart every account's status is published again.
func (d *Daemon) statusLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
		d.publishPending(ctx)
	}
}

func (d *Daemon) publishPending(ctx context.Context) {
	// One publisher at a time: report times then follow what was newest
	// when it was picked, so an older status never lands after a newer one.
	d.pubMu.Lock()
	defer d.pubMu.Unlock()
	d.mu.Lock()
	var todo []provisioning.Status
	for id, s := range d.status {
		if r, ok := d.reported[id]; !ok || !r.Equal(s) {
			todo = append(todo, s)
		}
	}
	d.mu.Unlock()
	for _, s := range todo {
		d.o.Failpoint("before-status")
		d.mu.Lock()
		now := d.o.Clock.Now()
		if !now.After(d.lastTime) {
			now = d.lastTime.Add(time.Microsecond)
		}
		d.lastTime = now
		d.mu.Unlock()
		s.Time = now
		err := d.pub.Publish(ctx, domain.Event{
			ID: domain.NewID(), Type: provisioning.EventStatus, AggregateID: s.AccountID,
			AggregateVersion: s.ObservedGeneration, Time: now, Data: s,
		})
		if err != nil {
			d.log.Warn("status publish failed; will retry", "account", s.AccountID, "err", err)
			return
		}
		d.mu.Lock()
		d.reported[s.AccountID] = s
		d.mu.Unlock()
	}
}
