package sqlstore

import (
	"context"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

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
			if err := p.bump(ctx, t, k, 0, 0, n); err != nil {
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

// pendingLeasesQuery runs every second; on SQLite it reads the partial
// index pickup_connections_held_pending, which holds only the sessions
// with pending messages (migration 0008).
const pendingLeasesQuery = "SELECT " + connCols + ` FROM pickup_connections
		WHERE instance = ? AND session_id != '' AND pending > 0 LIMIT ?`

func (p pickupStore) PendingLeases(ctx context.Context, instance string, limit int) ([]pickup.Lease, error) {
	rows, err := p.s.rdb.QueryContext(ctx, p.s.q(pendingLeasesQuery), instance, limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []pickup.Lease
	for rows.Next() {
		c, err := scanConn(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c.lease())
	}
	return out, classify(rows.Err())
}
