package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	_ "github.com/jackc/pgx/v5/stdlib" // the replay talks to PostgreSQL directly
)

// runAdd measures durable addMessage: every op is one call, answered after
// the commit. Afterwards it checks that every queue holds at least what was
// acknowledged, then empties the queues.
func (p *Pickup) runAdd(ctx context.Context, env Env) (Result, error) {
	conns, err := pickupConns(ctx, p.sockets, p.url, p.key, nil)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	prefix := namePrefix()
	queue := func(i int64) string { return fmt.Sprintf("%s-q%d", prefix, i%int64(p.queues)) }
	params := make([][]byte, p.queues)
	for q := range params {
		params[q] = addParams(queue(int64(q)), p.payload, 0)
	}
	var acked atomic.Int64
	res, err := Run(ctx, env.Load, func(ctx context.Context, i int64) error {
		_, err := conns[i%int64(len(conns))].call(ctx, "addMessage", params[i%int64(p.queues)])
		if err == nil {
			acked.Add(1)
		}
		return err
	})
	if err != nil {
		return res, err
	}
	stored, err := p.countAndEmpty(ctx, conns[0], queue)
	if err != nil {
		return res, err
	}
	res.Extra = withExtra(res.Extra, "acknowledged", acked.Load())
	res.Extra["stored_before_cleanup"] = stored
	if stored < acked.Load() {
		return res, fmt.Errorf("durability: %d messages acknowledged but only %d stored", acked.Load(), stored)
	}
	return res, nil
}

// countAndEmpty sums the queues' counts, then deletes everything in them.
func (p *Pickup) countAndEmpty(ctx context.Context, c *pickupConn, queue func(int64) string) (int64, error) {
	var total int64
	for q := range int64(p.queues) {
		var n int64
		if err := c.callJSON(ctx, "getAvailableMessageCount", map[string]string{"connectionId": queue(q)}, &n); err != nil {
			return 0, fmt.Errorf("count: %w", err)
		}
		total += n
		if err := c.callJSON(ctx, "removeAllMessages", map[string]string{"connectionId": queue(q),
			"recipientDid": "did:example:" + queue(q)}, nil); err != nil {
			return 0, fmt.Errorf("cleanup: %w", err)
		}
	}
	return total, nil
}

// runReplay is the Postgres queue pattern of other mediators' repositories,
// replayed on the same database: per message an INSERT ... RETURNING into a
// queued_message table (uuid id, recipient array, JSONB payload, state) and
// a NOTIFY to wake the instance holding the session, each its own
// autocommit statement as there.
func (p *Pickup) runReplay(ctx context.Context, env Env) (Result, error) {
	if p.postgres == "" {
		return Result{}, errors.New("replay needs --postgres URL")
	}
	db, err := sql.Open("pgx", p.postgres)
	if err != nil {
		return Result{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(max(p.replayDB, 1))
	db.SetMaxIdleConns(max(p.replayDB, 1))
	for _, stmt := range []string{
		`DROP TABLE IF EXISTS bench_replay_queued_message`,
		`CREATE TABLE bench_replay_queued_message (id UUID DEFAULT gen_random_uuid() PRIMARY KEY, connection_id VARCHAR(255),
			recipient_dids TEXT[], encrypted_message JSONB, state VARCHAR(20) NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)`,
		`CREATE INDEX ON bench_replay_queued_message (connection_id, state)`,
		`CREATE INDEX ON bench_replay_queued_message (created_at)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return Result{}, fmt.Errorf("replay schema: %w", err)
		}
	}
	defer db.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS bench_replay_queued_message`)
	prefix := namePrefix()
	type msg struct{ conn, did, payload string }
	msgs := make([]msg, p.queues)
	for q := range msgs {
		var m struct {
			ConnectionID string          `json:"connectionId"`
			Payload      json.RawMessage `json:"payload"`
		}
		_ = json.Unmarshal(addParams(fmt.Sprintf("%s-q%d", prefix, q), p.payload, 0), &m)
		msgs[q] = msg{m.ConnectionID, "did:example:" + m.ConnectionID, string(m.Payload)}
	}
	res, err := Run(ctx, env.Load, func(ctx context.Context, i int64) error {
		m := msgs[i%int64(len(msgs))]
		var id string
		if err := db.QueryRowContext(ctx, `INSERT INTO bench_replay_queued_message (connection_id, recipient_dids, encrypted_message, state)
			VALUES ($1, $2, $3, 'pending') RETURNING id`, m.conn, "{"+m.did+"}", m.payload).Scan(&id); err != nil {
			return err
		}
		_, err := db.ExecContext(ctx, `SELECT pg_notify('newMessage', $1)`, m.conn)
		return err
	})
	if err != nil {
		return res, err
	}
	drained, err := replayDrain(ctx, db, msgs[0].conn)
	res.Extra = withExtra(res.Extra, "replay_claim_delete_of_one_queue", drained)
	return res, err
}

// replayDrain picks one queue up the way the pattern does: UPDATE ...
// RETURNING claims a page, DELETE by ids acknowledges it. It returns how
// many messages it moved, a sanity check that the pattern is complete.
func replayDrain(ctx context.Context, db *sql.DB, conn string) (int, error) {
	total := 0
	for range 100_000 {
		rows, err := db.QueryContext(ctx, `UPDATE bench_replay_queued_message SET state = 'sending' WHERE id IN (
			SELECT id FROM bench_replay_queued_message WHERE connection_id = $1 AND state = 'pending' ORDER BY created_at LIMIT 100)
			RETURNING id`, conn)
		if err != nil {
			return total, err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return total, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) == 0 {
			return total, nil
		}
		if _, err := db.ExecContext(ctx, `DELETE FROM bench_replay_queued_message WHERE id = ANY($1::uuid[])`,
			"{"+strings.Join(ids, ",")+"}"); err != nil {
			return total, err
		}
		total += len(ids)
	}
	return total, nil
}

// runAddVsReplay runs both with the same load and reports the ratio of
// throughputs (closed loop) or of p50 latencies (open loop).
func (p *Pickup) runAddVsReplay(ctx context.Context, env Env) (Result, error) {
	add, err := p.runAdd(ctx, env)
	if err != nil {
		return add, err
	}
	env.Log.Info("replay: the Postgres queue pattern, same load shape")
	rep, err := p.runReplay(ctx, env)
	if err != nil {
		return add, fmt.Errorf("replay: %w", err)
	}
	add.Extra = withExtra(add.Extra, "replay", rep.Summary())
	// How many times better than the replay: throughput in closed loop,
	// typical (p50) latency in open loop, where throughput is fixed.
	switch {
	case add.Mode == ClosedLoop && rep.AchievedRate > 0:
		add.Extra["ratio_vs_replay"] = add.AchievedRate / rep.AchievedRate
		add.Extra["ratio_basis"] = "throughput"
	case add.Mode == OpenLoop && add.Latency.P50 > 0:
		add.Extra["ratio_vs_replay"] = rep.Latency.P50 / add.Latency.P50
		add.Extra["ratio_basis"] = "p50_latency"
	}
	return add, nil
}
