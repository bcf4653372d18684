package sqlstore

import (
	"context"

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
		if k := keyOf(m.Message); states[k] == nil {
			states[k] = &addState{}
			keys = append(keys, k)
		}
	}
	// Sorted, so concurrent PostgreSQL batches lock queue rows in one order.
	sortKeys(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k.account, k.conn)
	}
	rows, err := t.tx.QueryContext(ctx, t.s.q(`INSERT INTO pickup_connections (account_id, connection_id) VALUES `+
		placeholders(len(keys), cols(2)...)+` ON CONFLICT (account_id, connection_id)
		DO UPDATE SET queued = pickup_connections.queued RETURNING `+connCols), args...)
	if err != nil {
		return classify(err)
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
	rows, err = t.tx.QueryContext(ctx, t.s.q(`INSERT INTO pickup_messages
		(id, account_id, connection_id, dids, payload, size, received_at, epoch, holder, deadline)
		VALUES `+placeholders(len(index), cols(10)...)+` RETURNING seq, id`), ins...)
	if err != nil {
		return classify(err)
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
	if err := p.addCounters(ctx, t, keys, states); err != nil {
		return err
	}
	return p.claimPushes(ctx, t, ap, msgs, results)
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
	if n == 0 {
		return nil
	}
	_, err := t.exec(ctx, `UPDATE pickup_connections SET queued = queued + u.column3,
		queued_bytes = queued_bytes + u.column4, pending = pending + u.column5
		FROM (VALUES `+placeholders(n, "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT")+`) AS u
		WHERE account_id = u.column1 AND connection_id = u.column2`, args...)
	return err
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
