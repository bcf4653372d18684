package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// The read model's tables. Live tables have the prefix "rm_"; a rebuild
// folds into "rb_" tables and swaps them in. Migration 0004 creates the
// live ones with exactly this text (prefix "rm_"), the same on both engines.
const projectionDDL = `CREATE TABLE {p}accounts (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	state      TEXT NOT NULL,
	generation BIGINT NOT NULL,
	finalized  BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE {p}clusters (
	name           TEXT PRIMARY KEY,
	daemon_version TEXT NOT NULL,
	registered_at  BIGINT NOT NULL,
	last_heartbeat BIGINT NOT NULL
);
CREATE TABLE {p}account_status (
	account_id          TEXT NOT NULL,
	cluster             TEXT NOT NULL,
	namespace           TEXT NOT NULL,
	observed_generation BIGINT NOT NULL,
	conditions          TEXT NOT NULL,
	deleted             BIGINT NOT NULL,
	report_time         BIGINT NOT NULL,
	PRIMARY KEY (account_id, cluster)
);
CREATE TABLE {p}checkpoint (
	name TEXT PRIMARY KEY,
	seq  BIGINT NOT NULL
);`

var projectionTables = []string{"accounts", "clusters", "account_status", "checkpoint"}

const (
	livePrefix    = "rm_"
	rebuildPrefix = "rb_"
)

func ddl(prefix string) string { return strings.ReplaceAll(projectionDDL, "{p}", prefix) }

// resetRebuildTables drops and recreates the rebuild tables.
func (s *Store) resetRebuildTables(ctx context.Context) error {
	return s.update(ctx, func(t *Tx) error {
		for _, tb := range projectionTables {
			if _, err := t.exec(ctx, "DROP TABLE IF EXISTS "+rebuildPrefix+tb); err != nil {
				return err
			}
		}
		for _, stmt := range strings.Split(ddl(rebuildPrefix), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := t.exec(ctx, stmt); err != nil {
				return fmt.Errorf("create rebuild tables: %w", err)
			}
		}
		return nil
	})
}

// SwapRebuilt replaces the live read model with the rebuilt one in one
// transaction; the old tables are dropped.
func (s *Store) SwapRebuilt(ctx context.Context) error {
	return s.update(ctx, func(t *Tx) error {
		for _, tb := range projectionTables {
			if _, err := t.exec(ctx, "DROP TABLE "+livePrefix+tb); err != nil {
				return err
			}
			if _, err := t.exec(ctx, "ALTER TABLE "+rebuildPrefix+tb+" RENAME TO "+livePrefix+tb); err != nil {
				return err
			}
			if s.engine == enginePostgres { // index names do not follow a table rename
				if _, err := t.exec(ctx, "ALTER INDEX "+rebuildPrefix+tb+"_pkey RENAME TO "+livePrefix+tb+"_pkey"); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
