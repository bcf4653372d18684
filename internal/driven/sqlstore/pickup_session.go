package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

func (p pickupStore) StartSession(ctx context.Context, l pickup.Lease, graceUntil time.Time) (pickup.Lease, pickup.Lease, error) {
	var now, prev pickup.Lease
	err := p.s.update(ctx, func(t *Tx) error {
		k := connKey{l.Account, l.ConnectionID}
		c, err := p.lockConn(ctx, t, k)
		if err != nil {
			return err
		}
		prev = pickup.Lease{}
		if c.session != "" {
			prev = c.lease()
		}
		now = l
		now.Epoch = c.epoch + 1
		if _, err := t.exec(ctx, `UPDATE pickup_connections SET session_id = ?, epoch = ?, holder = ?, instance = ?
			WHERE account_id = ? AND connection_id = ?`, l.SessionID, now.Epoch, l.Holder.Socket, l.Holder.Instance,
			k.account, k.conn); err != nil {
			return err
		}
		// Whatever is in flight to older sessions moves after the grace.
		_, err = t.exec(ctx, `UPDATE pickup_messages SET deadline = ? WHERE account_id = ? AND connection_id = ?
			AND epoch > 0 AND epoch < ? AND deadline > ?`, micros(graceUntil), k.account, k.conn, now.Epoch, micros(graceUntil))
		return err
	})
	return now, prev, err
}

// endLease clears a locked queue's lease and shortens its in-flight deadlines.
func (p pickupStore) endLease(ctx context.Context, t *Tx, c connRow, graceUntil time.Time) error {
	if _, err := t.exec(ctx, `UPDATE pickup_connections SET session_id = '', holder = '', instance = ''
		WHERE account_id = ? AND connection_id = ?`, c.key.account, c.key.conn); err != nil {
		return err
	}
	_, err := t.exec(ctx, `UPDATE pickup_messages SET deadline = ? WHERE account_id = ? AND connection_id = ?
		AND epoch = ? AND deadline > ?`, micros(graceUntil), c.key.account, c.key.conn, c.epoch, micros(graceUntil))
	return err
}

func (p pickupStore) EndSession(ctx context.Context, account, connectionID, sessionID string, by pickup.Holder, graceUntil time.Time) (pickup.Lease, bool, error) {
	var (
		ended pickup.Lease
		ok    bool
	)
	err := p.s.update(ctx, func(t *Tx) error {
		ok = false
		c, found, err := p.findConn(ctx, t, connKey{account, connectionID})
		if err != nil || !found || c.session == "" || c.holder != by.Socket || (sessionID != "" && c.session != sessionID) {
			return err
		}
		ended, ok = c.lease(), true
		return p.endLease(ctx, t, c, graceUntil)
	})
	return ended, ok, err
}

func (p pickupStore) EndHolder(ctx context.Context, by pickup.Holder, graceUntil time.Time) ([]pickup.Lease, error) {
	keys, err := p.keys(ctx, "SELECT account_id, connection_id FROM pickup_connections WHERE holder = ? AND holder != '' LIMIT 100000", by.Socket)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	var ended []pickup.Lease
	err = p.s.update(ctx, func(t *Tx) error {
		ended = ended[:0]
		for _, k := range keys {
			c, found, err := p.findConn(ctx, t, k)
			if err != nil {
				return err
			}
			if !found || c.holder != by.Socket {
				continue // taken over meanwhile
			}
			ended = append(ended, c.lease())
			if err := p.endLease(ctx, t, c, graceUntil); err != nil {
				return err
			}
		}
		return nil
	})
	return ended, err
}

// keys reads queue keys, sorted (the lock order).
func (p pickupStore) keys(ctx context.Context, query string, args ...any) ([]connKey, error) {
	rows, err := p.s.rdb.QueryContext(ctx, p.s.q(query), args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []connKey
	for rows.Next() {
		var k connKey
		if err := rows.Scan(&k.account, &k.conn); err != nil {
			return nil, classify(err)
		}
		out = append(out, k)
	}
	sortKeys(out)
	return out, classify(rows.Err())
}

func (p pickupStore) LiveSession(ctx context.Context, account, connectionID string, now time.Time) (pickup.Lease, bool, error) {
	c, err := scanConn(p.read(ctx, "SELECT c."+connColsQualified+` FROM pickup_connections c
		JOIN pickup_instances i ON i.id = c.instance
		WHERE c.account_id = ? AND c.connection_id = ? AND c.session_id != '' AND i.expires_at > ?`,
		account, connectionID, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return pickup.Lease{}, false, nil
	}
	if err != nil {
		return pickup.Lease{}, false, err
	}
	return c.lease(), true, nil
}

const connColsQualified = "account_id, c.connection_id, c.queued, c.queued_bytes, c.pending, c.session_id, c.epoch, c.holder, c.instance"

func (p pickupStore) Claim(ctx context.Context, l pickup.Lease, deadline time.Time, maxCount, maxBytes int) ([]pickup.Message, error) {
	var out []pickup.Message
	err := p.s.update(ctx, func(t *Tx) error {
		out = nil
		k := connKey{l.Account, l.ConnectionID}
		c, found, err := p.findConn(ctx, t, k)
		if err != nil || !found || c.session == "" || c.epoch != l.Epoch || c.holder != l.Holder.Socket {
			return err
		}
		msgs, _, err := p.selectPending(ctx, t, k, "", maxCount, maxBytes, true)
		if err != nil || len(msgs) == 0 {
			return err
		}
		args, in := seqArgs(msgs, micros(deadline), l.Holder.Socket, l.Epoch)
		if _, err := t.exec(ctx, "UPDATE pickup_messages SET deadline = ?, holder = ?, epoch = ? WHERE seq IN "+in, args...); err != nil {
			return err
		}
		out = msgs
		return bump(ctx, t, k, 0, 0, -int64(len(msgs)))
	})
	return out, err
}

func (p pickupStore) Requeue(ctx context.Context, now time.Time, limit int) ([]pickup.Lease, error) {
	keys, err := p.keys(ctx, `SELECT DISTINCT account_id, connection_id FROM pickup_messages
		WHERE deadline > 0 AND deadline <= ? LIMIT ?`, micros(now), limit)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	var live []pickup.Lease
	err = p.s.update(ctx, func(t *Tx) error {
		live = live[:0]
		alive, err := p.alive(ctx, t, now)
		if err != nil {
			return err
		}
		for _, k := range keys {
			c, found, err := p.findConn(ctx, t, k)
			if err != nil || !found {
				return err
			}
			r, err := t.exec(ctx, `UPDATE pickup_messages SET deadline = 0, holder = '', epoch = 0
				WHERE account_id = ? AND connection_id = ? AND deadline > 0 AND deadline <= ?`, k.account, k.conn, micros(now))
			if err != nil {
				return err
			}
			n, _ := r.RowsAffected()
			if err := bump(ctx, t, k, 0, 0, n); err != nil {
				return err
			}
			if n > 0 && c.session != "" && alive[c.instID] {
				live = append(live, c.lease())
			}
		}
		return nil
	})
	return live, err
}

// Expire works from the oldest messages by sequence: received_at grows with
// the sequence (both are taken at the add, the sequence at its commit a few
// milliseconds later), so the oldest rows are where expired ones are, and
// no index on received_at has to be kept up on every add.
func (p pickupStore) Expire(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	rows, err := p.s.rdb.QueryContext(ctx, p.s.q(`SELECT account_id, connection_id, received_at FROM pickup_messages
		ORDER BY seq LIMIT ?`), limit)
	if err != nil {
		return 0, classify(err)
	}
	seen := map[connKey]bool{}
	var keys []connKey
	for rows.Next() {
		var (
			k  connKey
			at int64
		)
		if err := rows.Scan(&k.account, &k.conn, &at); err != nil {
			rows.Close()
			return 0, classify(err)
		}
		if at >= micros(cutoff) {
			break
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(keys) == 0 {
		return 0, classify(err)
	}
	sortKeys(keys)
	var total int64
	err = p.s.update(ctx, func(t *Tx) error {
		total = 0
		for _, k := range keys {
			if _, found, err := p.findConn(ctx, t, k); err != nil || !found {
				return err
			}
			n, err := p.deleteWhere(ctx, t, k, "received_at < ?", micros(cutoff))
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}

func (p pickupStore) Heartbeat(ctx context.Context, instance string, until time.Time) error {
	return p.s.update(ctx, func(t *Tx) error {
		if _, err := t.exec(ctx, `INSERT INTO pickup_instances (id, expires_at) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, instance, micros(until)); err != nil {
			return err
		}
		// Instances gone for an hour are forgotten; their leases are long dead.
		_, err := t.exec(ctx, "DELETE FROM pickup_instances WHERE expires_at < ?", micros(until.Add(-time.Hour)))
		return err
	})
}

func (p pickupStore) Leave(ctx context.Context, instance string) error {
	return p.s.update(ctx, func(t *Tx) error {
		_, err := t.exec(ctx, "DELETE FROM pickup_instances WHERE id = ?", instance)
		return err
	})
}
