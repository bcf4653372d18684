package sqlstore

import (
	"context"
	"strings"

	"github.com/liveplane/liveplane/internal/domain"
)

// PendingOutbox returns up to limit unpublished events, oldest first.
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]domain.OutboxEntry, error) {
	rows, err := s.rdb.QueryContext(ctx, s.q("SELECT seq, id, subject, data FROM outbox ORDER BY seq LIMIT ?"), limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []domain.OutboxEntry
	for rows.Next() {
		var e domain.OutboxEntry
		if err := rows.Scan(&e.Seq, &e.ID, &e.Subject, &e.Data); err != nil {
			return nil, classify(err)
		}
		out = append(out, e)
	}
	return out, classify(rows.Err())
}

// MarkPublished removes events JetStream acknowledged. Removing an already
// removed seq is not an error: two publishers may race on the same rows.
func (s *Store) MarkPublished(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	args := make([]any, len(seqs))
	for i, v := range seqs {
		args[i] = v
	}
	query := "DELETE FROM outbox WHERE seq IN (" + strings.Repeat("?,", len(seqs)-1) + "?)"
	return s.update(ctx, func(t *Tx) error {
		_, err := t.exec(ctx, query, args...)
		return err
	})
}
