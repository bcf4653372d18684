package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// findConn reads and (PostgreSQL) locks a queue's row; ok is false when the
// queue was never written, which for every reader means "empty".
func (p pickupStore) findConn(ctx context.Context, t *Tx, k connKey) (connRow, bool, error) {
	c, err := scanConn(p.rowP(ctx, t, findConnQuery+t.forUpdate(), k.account, k.conn))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return connRow{}, false, nil
		}
		return connRow{}, false, err
	}
	return c, true, nil
}

// selectPending reads a queue's pending messages in FIFO order, narrowed
// to did when set, until maxCount are read or the next one would take the
// total over maxBytes (0: no byte limit; atLeastOne: the first is taken
// whatever its size).
func (p pickupStore) selectPending(ctx context.Context, t *Tx, k connKey, did string, maxCount, maxBytes int, atLeastOne bool) ([]pickup.Message, int64, error) {
	query := "SELECT " + messageCols + " FROM pickup_messages WHERE account_id = ? AND connection_id = ? AND deadline = 0"
	args := []any{k.account, k.conn}
	if did != "" {
		query += " AND " + p.hasDID("dids")
		args = append(args, didNeedle(did))
	}
	query += " ORDER BY seq LIMIT ?"
	args = append(args, maxCount)
	rows, err := t.tx.QueryContext(t.run(ctx), t.s.q(query), args...)
	if err != nil {
		return nil, 0, classify(err)
	}
	defer rows.Close()
	var (
		out   []pickup.Message
		total int64
	)
	for rows.Next() {
		m, _, err := scanMessage(rows)
		if err != nil {
			return nil, 0, classify(err)
		}
		size := int64(len(m.Payload))
		if maxBytes > 0 && total+size > int64(maxBytes) && !(atLeastOne && len(out) == 0) {
			break
		}
		total += size
		out = append(out, m)
	}
	return out, total, classify(rows.Err())
}

func seqArgs(msgs []pickup.Message, lead ...any) ([]any, string) {
	args := append(make([]any, 0, len(lead)+len(msgs)), lead...)
	for _, m := range msgs {
		args = append(args, m.Seq)
	}
	return args, "(" + strings.TrimSuffix(strings.Repeat("?,", len(msgs)), ",") + ")"
}

func (p pickupStore) Take(ctx context.Context, q pickup.TakeQuery) ([]pickup.Message, error) {
	var out []pickup.Message
	err := p.s.update(ctx, func(t *Tx) error {
		out = nil
		k := connKey{q.Account, q.ConnectionID}
		if _, ok, err := p.findConn(ctx, t, k); err != nil || !ok {
			return err
		}
		msgs, total, err := p.selectPending(ctx, t, k, q.RecipientDID, q.Limit, q.LimitBytes, false)
		if err != nil || len(msgs) == 0 {
			return err
		}
		n := int64(len(msgs))
		if q.Delete {
			args, in := seqArgs(msgs)
			if _, err := t.exec(ctx, "DELETE FROM pickup_messages WHERE seq IN "+in, args...); err != nil {
				return err
			}
			if err := p.bump(ctx, t, k, -n, -total, -n); err != nil {
				return err
			}
		} else {
			args, in := seqArgs(msgs, micros(q.Deadline), q.By.Socket)
			if _, err := t.exec(ctx, "UPDATE pickup_messages SET deadline = ?, holder = ?, epoch = 0 WHERE seq IN "+in, args...); err != nil {
				return err
			}
			if err := p.bump(ctx, t, k, 0, 0, -n); err != nil {
				return err
			}
		}
		out = msgs
		return nil
	})
	return out, err
}

func (p pickupStore) AvailableCount(ctx context.Context, account, connectionID, recipientDID string) (int64, error) {
	var n int64
	var err error
	if recipientDID == "" {
		err = p.read(ctx, "SELECT pending FROM pickup_connections WHERE account_id = ? AND connection_id = ?",
			account, connectionID).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil
		}
	} else {
		err = p.read(ctx, "SELECT COUNT(*) FROM pickup_messages WHERE account_id = ? AND connection_id = ? AND deadline = 0 AND "+
			p.hasDID("dids"), account, connectionID, didNeedle(recipientDID)).Scan(&n)
	}
	return n, classify(err)
}

// deleteWhere deletes a queue's messages matching cond and fixes its
// counters; the queue's row must be locked.
func (p pickupStore) deleteWhere(ctx context.Context, t *Tx, k connKey, cond string, args ...any) (int64, error) {
	var d deleted
	if err := p.deleteRows(ctx, t, &d, "DELETE FROM pickup_messages WHERE account_id = ? AND connection_id = ? AND "+
		cond+" RETURNING size, deadline", append([]any{k.account, k.conn}, args...)...); err != nil {
		return 0, err
	}
	return d.n, p.bump(ctx, t, k, -d.n, -d.bytes, -d.pending)
}

// removeByIDs deletes the queue's messages with these ids that are pending
// or in flight to holder, in statements of 64, 32, ..., 1 ids (each
// prepared once on SQLite), and fixes its counters.
func (p pickupStore) removeByIDs(ctx context.Context, t *Tx, k connKey, ids []string, holder string) (int64, error) {
	var d deleted
	args := make([]any, 0, 67)
	for off, n := range chunks(len(ids)) {
		args = append(args[:0], k.account, k.conn)
		for _, id := range ids[off : off+n] {
			args = append(args, id)
		}
		if err := p.deleteRows(ctx, t, &d, removeByIDsQuery(n), append(args, holder)...); err != nil {
			return 0, err
		}
	}
	return d.n, p.bump(ctx, t, k, -d.n, -d.bytes, -d.pending)
}

// deleted sums what DELETE ... RETURNING size, deadline removed.
type deleted struct{ n, bytes, pending int64 }

func (p pickupStore) deleteRows(ctx context.Context, t *Tx, d *deleted, query string, args ...any) error {
	rows, err := p.queryP(ctx, t, query, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var size, deadline int64
		if err := rows.Scan(&size, &deadline); err != nil {
			rows.Close()
			return classify(err)
		}
		d.n++
		d.bytes += size
		if deadline == 0 {
			d.pending++
		}
	}
	rows.Close()
	return classify(rows.Err())
}

func (p pickupStore) RemoveMessages(ctx context.Context, rs []pickup.Removal) ([]int64, error) {
	if p.s.engine == enginePostgres {
		return p.removePG(ctx, rs)
	}
	// Queue rows are locked in sorted order, as everywhere.
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		ka, kb := rs[order[a]], rs[order[b]]
		return ka.Account < kb.Account || ka.Account == kb.Account && ka.ConnectionID < kb.ConnectionID
	})
	counts := make([]int64, len(rs))
	err := p.s.update(ctx, func(t *Tx) error {
		clear(counts)
		for _, i := range order {
			r := rs[i]
			k := connKey{r.Account, r.ConnectionID}
			if _, ok, err := p.findConn(ctx, t, k); err != nil {
				return err
			} else if !ok || len(r.IDs) == 0 {
				continue
			}
			n, err := p.removeByIDs(ctx, t, k, r.IDs, r.By.Socket)
			if err != nil {
				return err
			}
			counts[i] = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

func (p pickupStore) RemoveAll(ctx context.Context, account, connectionID, recipientDID string) (int64, error) {
	var n int64
	err := p.s.update(ctx, func(t *Tx) error {
		n = 0
		k := connKey{account, connectionID}
		if _, ok, err := p.findConn(ctx, t, k); err != nil || !ok {
			return err
		}
		var err error
		n, err = p.deleteWhere(ctx, t, k, p.hasDID("dids"), didNeedle(recipientDID))
		return err
	})
	return n, err
}
