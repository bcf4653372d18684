package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// Projection is the provisioning read model on SQL: the live tables, or the
// rebuild tables while `projections rebuild` runs.
type Projection struct {
	s      *Store
	prefix string
	name   string // checkpoint row
}

var (
	_ provisioning.Projection   = (*Projection)(nil)
	_ provisioning.ReadModel    = (*Projection)(nil)
	_ provisioning.ProjectionTx = projTx{}
)

// Projection returns the live read model; name keys its checkpoint.
func (s *Store) Projection(name string) *Projection {
	return &Projection{s: s, prefix: livePrefix, name: name}
}

// RebuildProjection empties the rebuild tables and returns them, for a
// rebuild that ends with SwapRebuilt.
func (s *Store) RebuildProjection(ctx context.Context, name string) (*Projection, error) {
	if err := s.resetRebuildTables(ctx); err != nil {
		return nil, err
	}
	return &Projection{s: s, prefix: rebuildPrefix, name: name}, nil
}

func (p *Projection) t(name string) string { return p.prefix + name }

// Apply runs fn and records seq as the checkpoint (the highest seen) in the
// same transaction.
func (p *Projection) Apply(ctx context.Context, seq uint64, fn func(provisioning.ProjectionTx) error) error {
	return p.s.update(ctx, func(t *Tx) error {
		if err := fn(projTx{p: p, t: t}); err != nil {
			return err
		}
		_, err := t.exec(ctx, "INSERT INTO "+p.t("checkpoint")+" (name, seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET seq = "+
			"CASE WHEN excluded.seq > "+p.t("checkpoint")+".seq THEN excluded.seq ELSE "+p.t("checkpoint")+".seq END", p.name, int64(seq))
		return err
	})
}

// Checkpoint is the highest stream sequence folded so far (0: none).
func (p *Projection) Checkpoint(ctx context.Context) (uint64, error) {
	var seq int64
	err := p.s.rdb.QueryRowContext(ctx, p.s.q("SELECT COALESCE(MAX(seq), 0) FROM "+p.t("checkpoint")+" WHERE name = ?"), p.name).Scan(&seq)
	return uint64(seq), classify(err)
}

type projTx struct {
	p *Projection
	t *Tx
}

func (x projTx) UpsertAccount(ctx context.Context, a account.Account) error {
	tb := x.p.t("accounts")
	_, err := x.t.exec(ctx, "INSERT INTO "+tb+" (id, name, state, generation) VALUES (?, ?, ?, ?) "+
		"ON CONFLICT (id) DO UPDATE SET name = excluded.name, state = excluded.state, generation = excluded.generation "+
		"WHERE excluded.generation > "+tb+".generation", a.ID, a.Name, string(a.State), a.Generation)
	if err != nil {
		return err
	}
	return x.finalize(ctx, a.ID)
}

func (x projTx) UpsertCluster(ctx context.Context, hb provisioning.Heartbeat, at time.Time, registered bool) error {
	tb := x.p.t("clusters")
	set := "daemon_version = excluded.daemon_version, last_heartbeat = excluded.last_heartbeat"
	if registered {
		set += ", registered_at = excluded.registered_at"
	}
	_, err := x.t.exec(ctx, "INSERT INTO "+tb+" (name, daemon_version, registered_at, last_heartbeat) VALUES (?, ?, ?, ?) "+
		"ON CONFLICT (name) DO UPDATE SET "+set+" WHERE excluded.last_heartbeat > "+tb+".last_heartbeat",
		hb.Cluster, hb.DaemonVersion, micros(at), micros(at))
	return err
}

func (x projTx) UpsertStatus(ctx context.Context, s provisioning.Status) error {
	tb := x.p.t("account_status")
	conds, err := json.Marshal(s.Conditions)
	if err != nil {
		return err
	}
	_, err = x.t.exec(ctx, "INSERT INTO "+tb+" (account_id, cluster, namespace, observed_generation, conditions, deleted, report_time) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, cluster) DO UPDATE SET namespace = excluded.namespace, "+
		"observed_generation = excluded.observed_generation, conditions = excluded.conditions, deleted = excluded.deleted, "+
		"report_time = excluded.report_time WHERE excluded.report_time > "+tb+".report_time",
		s.AccountID, s.Cluster, s.Namespace, s.ObservedGeneration, string(conds), b2i(s.Deleted), micros(s.Time))
	if err != nil {
		return err
	}
	return x.finalize(ctx, s.AccountID)
}

// finalize marks a deleting account done once every cluster that reported
// for it reports Deleted.
func (x projTx) finalize(ctx context.Context, id string) error {
	st := x.p.t("account_status")
	_, err := x.t.exec(ctx, "UPDATE "+x.p.t("accounts")+" SET finalized = 1 WHERE id = ? AND state = ? AND finalized = 0 "+
		"AND EXISTS (SELECT 1 FROM "+st+" WHERE account_id = ?) AND NOT EXISTS (SELECT 1 FROM "+st+" WHERE account_id = ? AND deleted = 0)",
		id, string(account.StateDeleting), id, id)
	return err
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Clusters lists registered clusters by name.
func (p *Projection) Clusters(ctx context.Context) ([]provisioning.Cluster, error) {
	rows, err := p.s.rdb.QueryContext(ctx, "SELECT name, daemon_version, registered_at, last_heartbeat FROM "+p.t("clusters")+" ORDER BY name")
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []provisioning.Cluster
	for rows.Next() {
		var c provisioning.Cluster
		var reg, hb int64
		if err := rows.Scan(&c.Name, &c.DaemonVersion, &reg, &hb); err != nil {
			return nil, classify(err)
		}
		c.RegisteredAt, c.LastHeartbeat = fromMicros(reg), fromMicros(hb)
		out = append(out, c)
	}
	return out, classify(rows.Err())
}

// Statuses lists every cluster's last report for an account.
func (p *Projection) Statuses(ctx context.Context, accountID string) ([]provisioning.Status, error) {
	rows, err := p.s.rdb.QueryContext(ctx, p.s.q("SELECT cluster, namespace, observed_generation, conditions, deleted, report_time FROM "+
		p.t("account_status")+" WHERE account_id = ? ORDER BY cluster"), accountID)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []provisioning.Status
	for rows.Next() {
		s := provisioning.Status{AccountID: accountID}
		var conds string
		var del, at int64
		if err := rows.Scan(&s.Cluster, &s.Namespace, &s.ObservedGeneration, &conds, &del, &at); err != nil {
			return nil, classify(err)
		}
		if err := json.Unmarshal([]byte(conds), &s.Conditions); err != nil {
			return nil, fmt.Errorf("read model: conditions of %s/%s: %w", accountID, s.Cluster, err)
		}
		s.Deleted, s.Time = del == 1, fromMicros(at)
		out = append(out, s)
	}
	return out, classify(rows.Err())
}

// Dump is a canonical text form of the read model (checkpoint aside): two
// read models hold the same facts exactly when their dumps are equal.
func (p *Projection) Dump(ctx context.Context) (string, error) {
	var b strings.Builder
	for _, q := range []string{
		"SELECT id, name, state, generation, finalized FROM " + p.t("accounts") + " ORDER BY id",
		"SELECT name, daemon_version, registered_at, last_heartbeat FROM " + p.t("clusters") + " ORDER BY name",
		"SELECT account_id, cluster, namespace, observed_generation, conditions, deleted, report_time FROM " + p.t("account_status") + " ORDER BY account_id, cluster",
	} {
		rows, err := p.s.rdb.QueryContext(ctx, q)
		if err != nil {
			return "", classify(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", classify(err)
			}
			for i, v := range vals {
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				if i > 0 {
					b.WriteByte('\t')
				}
				fmt.Fprint(&b, v)
			}
			b.WriteByte('\n')
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return "", classify(err)
		}
		b.WriteString("--\n")
	}
	return b.String(), nil
}
