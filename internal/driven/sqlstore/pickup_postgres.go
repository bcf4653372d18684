package sqlstore

import (
	"context"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// On PostgreSQL an add batch and a remove batch are one statement each,
// committing on their own: one round trip where the transactions were four
// (BEGIN, the queues' upsert, the insert, COMMIT) and five, each a wait for
// a backend sharing the cores. Their texts never change (every list is an
// array parameter), so pgx prepares each once.
//
// pgAddMessages is the common case of an add batch: every queue exists and
// stays within its limits. cur locks the queue rows first, one index probe
// each in the order of q (sorted by the caller, as every multi-queue writer
// locks them); FOR UPDATE in READ COMMITTED waits for a concurrent writer
// and reads the row's latest version. Only when every queue was found and
// fits does u move their counters (its condition is an InitPlan, decided
// before u touches a row): otherwise the statement changes nothing and the
// batch goes to the transaction path, which creates queues and refuses
// message by message. A row can be modified once per statement, so the
// check reads locked rows rather than adding and taking the counts back. u
// is an upsert whose every row conflicts (the rows exist and are ours),
// written so only because the conflict path always probes the primary key
// where a join's plan follows the table's size. The messages join u's
// RETURNING for the live lease, and the push claims join the insert's, so
// a stored, not-live message claims its token's window in the same commit;
// DISTINCT ON keeps the batch's first such message per token, and sorted
// tokens lock push rows in one order.
const pgAddMessages = `WITH q AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS q(account_id, connection_id, dq, db)
	), cur AS MATERIALIZED (
		SELECT l.fits FROM q CROSS JOIN LATERAL (
			SELECT c.queued + q.dq <= $13::bigint AND c.queued_bytes + q.db <= $14::bigint AS fits
			FROM pickup_connections c WHERE c.account_id = q.account_id AND c.connection_id = q.connection_id
			FOR UPDATE) l
	), u AS (
		INSERT INTO pickup_connections AS c (account_id, connection_id, queued, queued_bytes, pending)
		SELECT account_id, connection_id, dq, db, dq FROM q
		WHERE (SELECT count(*) = cardinality($1::text[]) AND bool_and(fits) FROM cur)
		ON CONFLICT (account_id, connection_id) DO UPDATE SET queued = c.queued + excluded.queued,
			queued_bytes = c.queued_bytes + excluded.queued_bytes,
			pending = c.pending + CASE WHEN ` + pgLive + ` THEN 0 ELSE excluded.pending END
		RETURNING c.account_id, c.connection_id, c.session_id, c.epoch, c.holder, c.instance, ` + pgLive + ` AS live
	), ins AS (
		INSERT INTO pickup_messages (id, account_id, connection_id, dids, payload, size, received_at, epoch, holder, deadline)
		SELECT m.id, m.account_id, m.connection_id, m.dids, m.payload, m.size, m.received_at,
			CASE WHEN u.live THEN u.epoch ELSE 0 END, CASE WHEN u.live THEN u.holder ELSE '' END,
			CASE WHEN u.live THEN $15::bigint ELSE 0 END
		FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[], $10::bigint[], $11::bigint[])
			WITH ORDINALITY AS m(id, account_id, connection_id, dids, payload, size, received_at, ord)
		JOIN u ON u.account_id = m.account_id AND u.connection_id = m.connection_id
		ORDER BY m.ord
		RETURNING seq, id, account_id, connection_id
	), push AS (
		INSERT INTO pickup_push (token_hash, type, token, account_id, connection_id, message_id,
			window_start, state, due_at, attempts, last_error, sent_at)
		SELECT DISTINCT ON (p.token_hash) p.token_hash, p.type, p.token, ins.account_id, ins.connection_id, ins.id,
			$12::bigint, 'due', $12::bigint, 0, '', 0
		FROM unnest($16::text[], $17::text[], $18::text[], $19::text[]) WITH ORDINALITY AS p(message_id, token_hash, type, token, ord)
		JOIN ins ON ins.id = p.message_id
		JOIN u ON u.account_id = ins.account_id AND u.connection_id = ins.connection_id AND NOT u.live
		ORDER BY p.token_hash, p.ord
		ON CONFLICT (token_hash) DO UPDATE SET type = excluded.type, token = excluded.token,
			account_id = excluded.account_id, connection_id = excluded.connection_id, message_id = excluded.message_id,
			window_start = excluded.window_start, state = 'due', due_at = excluded.due_at, attempts = 0,
			last_error = '', sent_at = 0
		WHERE pickup_push.window_start <= $20::bigint
		RETURNING message_id
	)
	SELECT ins.seq, ins.id, u.live, u.session_id, u.epoch, u.holder, u.instance, push.message_id IS NOT NULL
	FROM ins JOIN u ON u.account_id = ins.account_id AND u.connection_id = ins.connection_id
	LEFT JOIN push ON push.message_id = ins.id`

// pgLive is whether queue row c's lease is live: a session held by an
// instance whose heartbeat is current ($12 is now).
const pgLive = `(c.session_id != '' AND EXISTS (SELECT 1 FROM pickup_instances i
		WHERE i.id = c.instance AND i.expires_at > $12::bigint))`

// addPG tries msgs as pgAddMessages. It reports false, having changed
// nothing, when a queue is missing or would go over a limit.
func (p pickupStore) addPG(ctx context.Context, ap pickup.AddParams, msgs []pickup.NewMessage, results []pickup.AddResult) (bool, error) {
	keys, queues := byQueue(msgs) // cur locks the rows in this order
	var (
		ids, accounts, conns, dids              []string
		payloads                                [][]byte
		sizes, ats                              []int64
		pushIDs, pushHashes, pushTypes, pushTok []string
	)
	index := make(map[string]int, len(msgs))
	for i, m := range msgs {
		index[m.ID] = i
		ids, accounts, conns, dids = append(ids, m.ID), append(accounts, m.Account), append(conns, m.ConnectionID),
			append(dids, didList(m.RecipientDIDs))
		payloads, sizes, ats = append(payloads, m.Payload), append(sizes, int64(len(m.Payload))), append(ats, micros(m.ReceivedAt))
		if m.Push != nil {
			pushIDs, pushHashes = append(pushIDs, m.ID), append(pushHashes, pickup.HashToken(*m.Push))
			pushTypes, pushTok = append(pushTypes, m.Push.Type), append(pushTok, m.Push.Token)
		}
	}
	qAccounts, qConns := keyColumns(keys)
	qN, qBytes := make([]int64, len(keys)), make([]int64, len(keys))
	for j, k := range keys {
		qN[j], qBytes[j] = queues[k].n, queues[k].bytes
	}
	now := micros(ap.Now)
	rows, err := p.s.wdb.QueryContext(ctx, pgAddMessages, qAccounts, qConns, qN, qBytes,
		ids, accounts, conns, dids, payloads, sizes, ats,
		now, ap.Limits.MaxMessages, ap.Limits.MaxBytes, micros(ap.AckDeadline),
		pushIDs, pushHashes, pushTypes, pushTok, now-ap.PushWindow.Microseconds())
	if err != nil {
		p.s.metrics.failures.Inc()
		return false, classify(err)
	}
	defer rows.Close()
	leases := map[connKey]*pickup.Lease{}
	got := 0
	for rows.Next() {
		var (
			seq        int64
			id         string
			live, push bool
			l          pickup.Lease
		)
		if err := rows.Scan(&seq, &id, &live, &l.SessionID, &l.Epoch, &l.Holder.Socket, &l.Holder.Instance, &push); err != nil {
			return false, classify(err)
		}
		i, ok := index[id]
		if !ok {
			return false, domain.Errorf(domain.CodeInternal, "pickup.AddMessage", "stored an unknown message %q", id)
		}
		got++
		results[i].Seq, results[i].Push = seq, push
		if live {
			// One lease per queue, shared by its messages.
			k := keyOf(msgs[i].Message)
			if leases[k] == nil {
				l.Account, l.ConnectionID = k.account, k.conn
				leases[k] = &l
			}
			results[i].Live = leases[k]
		}
	}
	if err := rows.Err(); err != nil {
		p.s.metrics.failures.Inc()
		return false, classify(err)
	}
	p.s.metrics.commits.Inc()
	switch got {
	case 0:
		return false, nil
	case len(msgs):
		return true, nil
	}
	return false, domain.Errorf(domain.CodeInternal, "pickup.AddMessage", "stored %d of %d messages", got, len(msgs))
}

// pgRemoveMessages is a remove batch: k locks the queues' rows ($6, $7:
// each once, sorted by the caller), as the transaction did, so that it
// never holds a message a Take or a Claim waits for while it waits for
// their queue; d deletes each removal's messages that are pending or in
// flight to its socket (the lock's InitPlan runs before d reads a row; the
// = ANY keeps the id index in the plan whatever the table's statistics),
// and u moves the counters by what d deleted. A message listed by two
// removals is deleted, and counted, once.
const pgRemoveMessages = `WITH r AS (
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) AS r(i, account_id, connection_id, id, holder)
	), k AS MATERIALIZED (
		SELECT 1 FROM unnest($6::text[], $7::text[]) AS q(account_id, connection_id) CROSS JOIN LATERAL (
			SELECT 1 FROM pickup_connections c WHERE c.account_id = q.account_id AND c.connection_id = q.connection_id
			FOR UPDATE) l
	), d AS (
		DELETE FROM pickup_messages m USING r
		WHERE m.id = ANY($4::text[]) AND m.id = r.id AND m.account_id = r.account_id AND m.connection_id = r.connection_id
			AND (m.deadline = 0 OR m.holder = r.holder) AND (SELECT count(*) >= 0 FROM k)
		RETURNING r.i, m.account_id, m.connection_id, m.size, m.deadline
	), s AS (
		SELECT account_id, connection_id, count(*) AS n, sum(size) AS bytes, count(*) FILTER (WHERE deadline = 0) AS pending
		FROM d GROUP BY account_id, connection_id
	), u AS (
		UPDATE pickup_connections c SET queued = c.queued - s.n, queued_bytes = c.queued_bytes - s.bytes,
			pending = c.pending - s.pending
		FROM s WHERE c.account_id = s.account_id AND c.connection_id = s.connection_id
	)
	SELECT i, count(*) FROM d GROUP BY i`

// removePG runs rs as pgRemoveMessages.
func (p pickupStore) removePG(ctx context.Context, rs []pickup.Removal) ([]int64, error) {
	var (
		idx                           []int64
		accounts, conns, ids, holders []string
	)
	for i, r := range rs {
		for _, id := range r.IDs {
			idx, accounts, conns = append(idx, int64(i)), append(accounts, r.Account), append(conns, r.ConnectionID)
			ids, holders = append(ids, id), append(holders, r.By.Socket)
		}
	}
	counts := make([]int64, len(rs))
	if len(ids) == 0 {
		return counts, nil
	}
	seen := map[connKey]bool{}
	var keys []connKey
	for _, r := range rs {
		if k := (connKey{r.Account, r.ConnectionID}); len(r.IDs) > 0 && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sortKeys(keys) // k locks the rows in this order
	kAccounts, kConns := keyColumns(keys)
	rows, err := p.s.wdb.QueryContext(ctx, pgRemoveMessages, idx, accounts, conns, ids, holders, kAccounts, kConns)
	if err != nil {
		p.s.metrics.failures.Inc()
		return nil, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, n int64
		if err := rows.Scan(&i, &n); err != nil {
			return nil, classify(err)
		}
		counts[i] = n
	}
	if err := rows.Err(); err != nil {
		p.s.metrics.failures.Inc()
		return nil, classify(err)
	}
	p.s.metrics.commits.Inc()
	return counts, nil
}

// keyColumns splits queue keys into the two arrays a statement unnests.
func keyColumns(keys []connKey) (accounts, conns []string) {
	accounts, conns = make([]string, len(keys)), make([]string, len(keys))
	for j, k := range keys {
		accounts[j], conns[j] = k.account, k.conn
	}
	return accounts, conns
}
