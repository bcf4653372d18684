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
		if _, err := t.exec(ctx, `UPDATE pickup_connections SET session_id = ?, epoch = ?, holder = ?, instance = ?,
			session_since = ? WHERE account_id = ? AND connection_id = ?`, l.SessionID, now.Epoch, l.Holder.Socket,
			l.Holder.Instance, micros(p.s.now()), k.account, k.conn); err != nil {
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
	if _, err := t.exec(ctx, `UPDATE pickup_connections SET session_id = '', holder = '', instance = '', session_since = 0
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
		return p.bump(ctx, t, k, 0, 0, -int64(len(msgs)))
	})
	return out, err
}
