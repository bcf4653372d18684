package sqlstore

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// loadRows is how many rows one multi-row INSERT carries (7 columns at
// most: well inside both engines' parameter limits).
const loadRows = 500

// Load writes a read model folded in memory into p's (empty) tables, each
// row once, with seq as the checkpoint, in one transaction: the fast path
// of a rebuild. The rows are what the per-event upserts would have left.
func (p *Projection) Load(ctx context.Context, m *provisioning.Memory, seq uint64) error {
	var accounts, clusters, statuses [][]any
	for _, a := range m.Accounts {
		accounts = append(accounts, []any{a.ID, a.Name, string(a.State), a.Generation, b2i(a.Finalized)})
	}
	for _, c := range m.Clusters {
		clusters = append(clusters, []any{c.Name, c.DaemonVersion, micros(c.RegisteredAt), micros(c.LastHeartbeat)})
	}
	for _, s := range m.Statuses {
		conds, err := json.Marshal(s.Conditions)
		if err != nil {
			return err
		}
		statuses = append(statuses, []any{s.AccountID, s.Cluster, s.Namespace, s.ObservedGeneration, string(conds), b2i(s.Deleted), micros(s.Time)})
	}
	// Sorted, so the insert order (and a diff of two loads) is stable.
	for _, rows := range [][][]any{accounts, clusters, statuses} {
		sort.Slice(rows, func(i, j int) bool {
			a, b := rows[i][0].(string)+"\x00"+rows[i][1].(string), rows[j][0].(string)+"\x00"+rows[j][1].(string)
			return a < b
		})
	}
	return p.s.update(ctx, func(t *Tx) error {
		for _, tb := range []struct {
			name, cols string
			rows       [][]any
		}{
			{"accounts", "id, name, state, generation, finalized", accounts},
			{"clusters", "name, daemon_version, registered_at, last_heartbeat", clusters},
			{"account_status", "account_id, cluster, namespace, observed_generation, conditions, deleted, report_time", statuses},
		} {
			for start := 0; start < len(tb.rows); start += loadRows {
				chunk := tb.rows[start:min(start+loadRows, len(tb.rows))]
				row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(chunk[0])), ", ") + ")"
				var b strings.Builder
				b.WriteString("INSERT INTO " + p.t(tb.name) + " (" + tb.cols + ") VALUES ")
				args := make([]any, 0, len(chunk)*len(chunk[0]))
				for i, r := range chunk {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(row)
					args = append(args, r...)
				}
				if _, err := t.exec(ctx, b.String(), args...); err != nil {
					return err
				}
			}
		}
		_, err := t.exec(ctx, "INSERT INTO "+p.t("checkpoint")+" (name, seq) VALUES (?, ?)", p.name, int64(seq))
		return err
	})
}
