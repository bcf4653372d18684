package sqlstore

import (
	"context"
	"iter"
	"strings"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// AddMessages is one group commit of addMessage calls: a handful of
// statements per batch whatever its size (one upsert of the queues' rows,
// one read of the live instances, one multi-row insert, one counter
// update), inside the SQLite funnel's transaction or a PostgreSQL one.
func (p pickupStore) AddMessages(ctx context.Context, ap pickup.AddParams, msgs []pickup.NewMessage) ([]pickup.AddResult, error) {
	results := make([]pickup.AddResult, len(msgs))
	err := p.s.update(ctx, func(t *Tx) error {
		clear(results)
		return p.addTx(ctx, t, ap, msgs, results)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

type addState struct {
	row                    connRow
	live                   *pickup.Lease
	dQueued, dBytes, dPend int64
}

func (p pickupStore) addTx(ctx context.Context, t *Tx, ap pickup.AddParams, msgs []pickup.NewMessage, results []pickup.AddResult) error {
	states := map[connKey]*addState{}
	var keys []connKey
	for _, m := range msgs {
		k := keyOf(m.Message)
		st := states[k]
		if st == nil {
			st = &addState{}
			states[k] = st
			keys = append(keys, k)
		}
		st.dQueued++
		st.dBytes += int64(len(m.Payload))
	}
	// Sorted, so concurrent PostgreSQL batches lock queue rows in one order.
	sortKeys(keys)
	done, err := p.addOptimistic(ctx, t, ap, msgs, results, keys, states)
	if err != nil || done {
		return err
	}
	for _, st := range states {
		*st = addState{}
	}
	return p.addCareful(ctx, t, ap, msgs, results, keys, states)
}

// addOptimistic is the common case, every message within its queue's
// limits: one statement per 64 queues adds the batch's counts and returns
// each queue's row and whether its lease is live, then the messages are
// inserted. When a queue would go over a limit it takes its counts back
// and reports false, and addCareful decides message by message.
func (p pickupStore) addOptimistic(ctx context.Context, t *Tx, ap pickup.AddParams, msgs []pickup.NewMessage,
	results []pickup.AddResult, keys []connKey, states map[connKey]*addState) (bool, error) {
	now := micros(ap.Now)
	args := make([]any, 0, 5*len(keys))
	for _, k := range keys {
		st := states[k]
		args = append(args, k.account, k.conn, st.dQueued, st.dBytes, st.dQueued)
	}
	over := false
	for off, n := range chunks(len(keys)) {
		rows, err := p.queryP(ctx, t, upsertAddQuery(n), append(args[5*off:5*(off+n):5*(off+n)], now, now)...)
		if err != nil {
			return false, err
		}
		for rows.Next() {
			var live bool
			c, err := scanConnAnd(rows, &live)
			if err != nil {
				rows.Close()
				return false, err
			}
			st := states[c.key]
			st.row = c
			if live {
				l := c.lease()
				st.live = &l
			} else {
				st.dPend = st.dQueued
			}
			if c.queued > ap.Limits.MaxMessages || c.bytes > ap.Limits.MaxBytes {
				over = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return false, classify(err)
		}
	}
	if over {
		for _, st := range states {
			st.dQueued, st.dBytes, st.dPend = -st.dQueued, -st.dBytes, -st.dPend
		}
		return false, p.addCounters(ctx, t, keys, states)
	}
	ins := make([]any, 0, 10*len(msgs))
	index := make(map[string]int, len(msgs))
	for i, m := range msgs {
		st := states[keyOf(m.Message)]
		var epoch, deadline int64
		holder := ""
		if st.live != nil {
			results[i].Live = st.live
			epoch, holder, deadline = st.live.Epoch, st.live.Holder.Socket, micros(ap.AckDeadline)
		}
		index[m.ID] = i
		ins = append(ins, m.ID, m.Account, m.ConnectionID, didList(m.RecipientDIDs), m.Payload, int64(len(m.Payload)),
			micros(m.ReceivedAt), epoch, holder, deadline)
	}
	if err := p.insertMessages(ctx, t, ins, index, results); err != nil {
		return false, err
	}
	return true, p.claimPushes(ctx, t, ap, msgs, results)
}

// addCareful checks each message against its queue's limits in order,
// refusing those that do not fit.
func (p pickupStore) addCareful(ctx context.Context, t *Tx, ap pickup.AddParams, msgs []pickup.NewMessage,
	results []pickup.AddResult, keys []connKey, states map[connKey]*addState) error {
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k.account, k.conn)
	}
	for off, n := range chunks(len(keys)) {
		rows, err := p.queryP(ctx, t, upsertConnsQuery(n), args[2*off:2*(off+n)]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			c, err := scanConn(rows)
			if err != nil {
				rows.Close()
				return err
			}
			states[c.key].row = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(err)
		}
	}
	alive, err := p.alive(ctx, t, ap.Now)
	if err != nil {
		return err
	}
	for _, st := range states {
		if st.row.session != "" && alive[st.row.instID] {
			l := st.row.lease()
			st.live = &l
		}
	}

	const op = "pickup.AddMessage"
	ins := make([]any, 0, 10*len(msgs))
	index := make(map[string]int, len(msgs))
	for i, m := range msgs {
		st := states[keyOf(m.Message)]
		size := int64(len(m.Payload))
		switch {
		case st.row.queued+st.dQueued+1 > ap.Limits.MaxMessages:
			results[i].Err = domain.Errorf(domain.CodeExhausted, op,
				"connection %s holds %d messages, its limit; nothing was stored", m.ConnectionID, ap.Limits.MaxMessages)
			continue
		case st.row.bytes+st.dBytes+size > ap.Limits.MaxBytes:
			results[i].Err = domain.Errorf(domain.CodeExhausted, op,
				"connection %s would hold more than its limit of %d bytes; nothing was stored", m.ConnectionID, ap.Limits.MaxBytes)
			continue
		}
		st.dQueued++
		st.dBytes += size
		var epoch, deadline int64
		holder := ""
		if st.live != nil {
			results[i].Live = st.live
			epoch, holder, deadline = st.live.Epoch, st.live.Holder.Socket, micros(ap.AckDeadline)
		} else {
			st.dPend++
		}
		index[m.ID] = i
		ins = append(ins, m.ID, m.Account, m.ConnectionID, didList(m.RecipientDIDs), m.Payload, size,
			micros(m.ReceivedAt), epoch, holder, deadline)
	}
	if len(index) == 0 {
		return nil
	}
	if err := p.insertMessages(ctx, t, ins, index, results); err != nil {
		return err
	}
	if err := p.addCounters(ctx, t, keys, states); err != nil {
		return err
	}
	return p.claimPushes(ctx, t, ap, msgs, results)
}

// insertMessages inserts rows of 10 values and records their sequences.
func (p pickupStore) insertMessages(ctx context.Context, t *Tx, ins []any, index map[string]int, results []pickup.AddResult) error {
	for off, n := range chunks(len(index)) {
		rows, err := p.queryP(ctx, t, insertMessagesQuery(n), ins[10*off:10*(off+n)]...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				seq int64
				id  string
			)
			if err := rows.Scan(&seq, &id); err != nil {
				rows.Close()
				return classify(err)
			}
			results[index[id]].Seq = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(err)
		}
	}
	return nil
}

// addCounters applies every queue's deltas in one statement.
func (p pickupStore) addCounters(ctx context.Context, t *Tx, keys []connKey, states map[connKey]*addState) error {
	args := make([]any, 0, 5*len(keys))
	n := 0
	for _, k := range keys {
		st := states[k]
		if st.dQueued == 0 {
			continue
		}
		n++
		args = append(args, k.account, k.conn, st.dQueued, st.dBytes, st.dPend)
	}
	for off, m := range chunks(n) {
		if err := p.execP(ctx, t, bumpConnsQuery(m), args[5*off:5*(off+m)]...); err != nil {
			return err
		}
	}
	return nil
}

// The group commit's statements, for n rows each.
func upsertConnsQuery(n int) string {
	return `INSERT INTO pickup_connections (account_id, connection_id) VALUES ` + placeholders(n, cols(2)...) +
		` ON CONFLICT (account_id, connection_id) DO UPDATE SET queued = pickup_connections.queued RETURNING ` + connCols
}

// upsertAddQuery adds (queued, bytes, pending) to n queues, creating them,
// and returns each row and whether its lease is live (a session held by an
// instance whose heartbeat is current: the two trailing parameters are now).
// A live queue's pending count does not grow: its messages go in flight.
func upsertAddQuery(n int) string {
	const live = `(pickup_connections.session_id != '' AND EXISTS (SELECT 1 FROM pickup_instances i
		WHERE i.id = pickup_connections.instance AND i.expires_at > ?))`
	return `INSERT INTO pickup_connections (account_id, connection_id, queued, queued_bytes, pending) VALUES ` +
		placeholders(n, "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT") +
		` ON CONFLICT (account_id, connection_id) DO UPDATE SET queued = pickup_connections.queued + excluded.queued,
		queued_bytes = pickup_connections.queued_bytes + excluded.queued_bytes,
		pending = pickup_connections.pending + CASE WHEN ` + live + ` THEN 0 ELSE excluded.pending END
		RETURNING ` + connCols + `, ` + strings.ReplaceAll(live, "pickup_connections.", "")
}

func insertMessagesQuery(n int) string {
	return `INSERT INTO pickup_messages (id, account_id, connection_id, dids, payload, size, received_at, epoch, holder, deadline)
		VALUES ` + placeholders(n, cols(10)...) + ` RETURNING seq, id`
}

func bumpConnsQuery(n int) string {
	return `UPDATE pickup_connections SET queued = queued + u.column3, queued_bytes = queued_bytes + u.column4,
		pending = pending + u.column5
		FROM (VALUES ` + placeholders(n, "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT") + `) AS u
		WHERE account_id = u.column1 AND connection_id = u.column2`
}

// chunks splits n rows into statements of 64, 32, ..., 1 rows, so that a
// handful of statement texts (each prepared once) cover every batch size.
// It yields (offset, rows) pairs.
func chunks(n int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		off := 0
		for size := 64; size > 0 && off < n; {
			if n-off < size {
				size /= 2
				continue
			}
			if !yield(off, size) {
				return
			}
			off += size
		}
	}
}

// claimPushes opens a notification window for each token of a stored,
// not-live message whose previous window is over. The first message of the
// batch per token names the window.
func (p pickupStore) claimPushes(ctx context.Context, t *Tx, ap pickup.AddParams, msgs []pickup.NewMessage, results []pickup.AddResult) error {
	first := map[string]int{}
	var order []string
	for i, m := range msgs {
		if m.Push == nil || results[i].Err != nil || results[i].Live != nil {
			continue
		}
		h := pickup.HashToken(*m.Push)
		if _, ok := first[h]; !ok {
			first[h] = i
			order = append(order, h)
		}
	}
	now := micros(ap.Now)
	for _, h := range order {
		i := first[h]
		m := msgs[i]
		var got string
		err := t.queryRow(ctx, `INSERT INTO pickup_push (token_hash, type, token, account_id, connection_id, message_id,
			window_start, state, due_at, attempts, last_error, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'due', ?, 0, '', 0)
			ON CONFLICT (token_hash) DO UPDATE SET type = excluded.type, token = excluded.token,
				account_id = excluded.account_id, connection_id = excluded.connection_id, message_id = excluded.message_id,
				window_start = excluded.window_start, state = 'due', due_at = excluded.due_at, attempts = 0,
				last_error = '', sent_at = 0
			WHERE pickup_push.window_start <= ?
			RETURNING token_hash`,
			h, m.Push.Type, m.Push.Token, m.Account, m.ConnectionID, m.ID, now, now, now-ap.PushWindow.Microseconds()).Scan(&got)
		switch {
		case err == nil:
			results[i].Push = true
		case classify(err) != nil && domain.Is(classify(err), domain.CodeNotFound):
			// the window is still open: coalesced
		default:
			return classify(err)
		}
	}
	return nil
}
