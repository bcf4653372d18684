package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

func (p pickupStore) DuePushes(ctx context.Context, now, leaseUntil time.Time, limit int) ([]pickup.Push, error) {
	var out []pickup.Push
	err := p.s.update(ctx, func(t *Tx) error {
		out = nil
		rows, err := t.tx.QueryContext(t.run(ctx), t.s.q(`UPDATE pickup_push SET due_at = ?, attempts = attempts + 1
			WHERE token_hash IN (SELECT token_hash FROM pickup_push WHERE state = 'due' AND due_at <= ?
				ORDER BY due_at LIMIT ?`+p.skipLocked()+`)
			RETURNING token_hash, type, token, account_id, connection_id, message_id, window_start, attempts`),
			micros(leaseUntil), micros(now), limit)
		if err != nil {
			return classify(err)
		}
		defer rows.Close()
		for rows.Next() {
			var (
				x  pickup.Push
				ws int64
			)
			if err := rows.Scan(&x.TokenHash, &x.Token.Type, &x.Token.Token, &x.Account, &x.ConnectionID,
				&x.MessageID, &ws, &x.Attempts); err != nil {
				return classify(err)
			}
			x.WindowStart = fromMicros(ws)
			out = append(out, x)
		}
		return classify(rows.Err())
	})
	return out, err
}

func (p pickupStore) FinishPush(ctx context.Context, x pickup.Push, o pickup.PushOutcome) error {
	return p.s.update(ctx, func(t *Tx) error {
		var err error
		switch o.State {
		case pickup.PushSent:
			now := micros(p.s.now())
			var r sql.Result
			r, err = t.exec(ctx, `UPDATE pickup_push SET state = 'sent', sent_at = ?, last_error = ''
				WHERE token_hash = ? AND window_start = ?`, now, x.TokenHash, micros(x.WindowStart))
			if err != nil {
				return err
			}
			// Counted for the queue listing in the same transaction, and only
			// when this window's row was still ours to finish.
			if n, _ := r.RowsAffected(); n == 1 {
				_, err = t.exec(ctx, `UPDATE pickup_connections SET pushes_sent = pushes_sent + 1, last_push_at = ?
					WHERE account_id = ? AND connection_id = ?`, now, x.Account, x.ConnectionID)
			}
		case pickup.PushDue:
			_, err = t.exec(ctx, `UPDATE pickup_push SET due_at = ?, last_error = ?
				WHERE token_hash = ? AND window_start = ?`, micros(o.RetryAt), o.Error, x.TokenHash, micros(x.WindowStart))
		default:
			_, err = t.exec(ctx, `UPDATE pickup_push SET state = ?, last_error = ?
				WHERE token_hash = ? AND window_start = ?`, o.State, o.Error, x.TokenHash, micros(x.WindowStart))
		}
		return err
	})
}
