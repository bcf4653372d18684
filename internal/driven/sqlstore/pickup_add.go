package sqlstore

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// AddMessages is one group commit of addMessage calls: a handful of
// statements per batch whatever its size (one upsert of the queues' rows,
// one read of the live instances, one multi-row insert, one counter
// update), inside the SQLite funnel's transaction or a PostgreSQL one. On
// PostgreSQL a batch whose queues exist and stay within their limits is one
// statement instead (addPG); the others come here.
func (p pickupStore) AddMessages(ctx context.Context, ap pickup.AddParams, msgs []pickup.NewMessage) ([]pickup.AddResult, error) {
	results := make([]pickup.AddResult, len(msgs))
	if p.s.engine == enginePostgres && len(msgs) > 0 {
		done, err := p.addPG(ctx, ap, msgs, results)
		if err != nil {
			return nil, err
		}
		if done {
			return results, nil
		}
	}
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
	keys, sums := byQueue(msgs)
	states := make(map[connKey]*addState, len(keys))
	for k, q := range sums {
		states[k] = &addState{dQueued: q.n, dBytes: q.bytes}
	}
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
