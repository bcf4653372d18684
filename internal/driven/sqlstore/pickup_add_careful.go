package sqlstore

import (
	"context"
	"slices"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
)

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
	// Token order, as PostgreSQL's one-statement add claims them: two
	// batches that locked the same push rows in the orders their messages
	// came in deadlocked (and PostgreSQL aborted one of them).
	slices.Sort(order)
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
