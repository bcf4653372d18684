package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationFS embed.FS

type migration struct {
	version  int
	name     string
	sql      string
	checksum string
	// contract marks a migration that removes or changes what older
	// binaries use (a dropped column, a renamed table, a new NOT NULL
	// column without a default). Its file starts with contractDirective.
	// Every other migration is expand-only: binaries that predate it keep
	// working on the migrated schema, which is what lets replicas roll one
	// by one with no downtime.
	contract bool
}

// contractDirective, as a migration file's first line, marks it contract.
const contractDirective = "-- liveplane:contract"

// migrations returns the engine's migrations in version order. Files are
// named NNNN_description.sql. Numbers may have gaps (flows developed in
// parallel reserve their own), but a duplicate is a build mistake.
func migrations(engine string) ([]migration, error) {
	dir := path.Join("migrations", engine)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_description.sql", dir, e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		contract := strings.HasPrefix(string(b), contractDirective)
		out = append(out, migration{v, e.Name(), string(b), hex.EncodeToString(sum[:8]), contract})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations/%s: %s and %s share a version", engine, out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate brings the schema to the newest version, each migration in its
// own transaction with its bookkeeping row.
//
// A database that a newer binary already migrated further is fine while
// every migration this binary does not know is expand-only: that is a
// rolling upgrade in progress (new replicas migrated, old ones still start
// and run) or a rollback. A newer contract migration is refused, because
// running a binary on a schema that dropped what it uses corrupts data. So
// is a migration whose file changed after it was applied.
func (s *Store) migrate(ctx context.Context) error {
	all, err := migrations(s.engine)
	if err != nil {
		return err
	}
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	if err := s.addContractColumn(ctx); err != nil {
		return err
	}
	latest := all[len(all)-1].version
	if err := s.checkNewer(ctx, latest); err != nil {
		return err
	}
	for _, m := range all {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// addContractColumn adds schema_migrations.contract to databases created
// before it existed (0 = expand-only, which all of those migrations were).
func (s *Store) addContractColumn(ctx context.Context) error {
	var err error
	if s.engine == enginePostgres {
		_, err = s.wdb.ExecContext(ctx, "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS contract INTEGER NOT NULL DEFAULT 0")
	} else {
		var n int
		if err = s.wdb.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_table_info('schema_migrations') WHERE name = 'contract'").Scan(&n); err == nil && n == 0 {
			_, err = s.wdb.ExecContext(ctx, "ALTER TABLE schema_migrations ADD COLUMN contract INTEGER NOT NULL DEFAULT 0")
		}
	}
	if err != nil {
		return fmt.Errorf("schema_migrations: add column contract: %w", err)
	}
	return nil
}

// checkNewer refuses a schema that a newer binary changed incompatibly, and
// logs one that it only extended.
func (s *Store) checkNewer(ctx context.Context, latest int) error {
	rows, err := s.wdb.QueryContext(ctx, s.q("SELECT version, name, contract FROM schema_migrations WHERE version > ? ORDER BY version"), latest)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	defer rows.Close()
	var newer []string
	for rows.Next() {
		var (
			v        int
			name     string
			contract int
		)
		if err := rows.Scan(&v, &name, &contract); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if contract != 0 {
			return fmt.Errorf("database schema is at version %d or later, newer than this binary's %d, and migration %s changed what this binary uses: upgrade liveplane", v, latest, name)
		}
		newer = append(newer, name)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(newer) > 0 {
		s.log.Warn("database schema is newer than this binary; its newer migrations are expand-only, so this binary runs on it (a rolling upgrade or a rollback)",
			"binary_latest", latest, "newer", strings.Join(newer, ","))
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if s.engine == enginePostgres {
		// Replicas starting together migrate one at a time.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(4242001)"); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
	}
	var sum string
	err = tx.QueryRowContext(ctx, s.q("SELECT checksum FROM schema_migrations WHERE version = ?"), m.version).Scan(&sum)
	switch {
	case err == nil && sum != m.checksum:
		return fmt.Errorf("migration %s was changed after it was applied (checksum %s, now %s)", m.name, sum, m.checksum)
	case err == nil:
		return nil
	case err != sql.ErrNoRows:
		return fmt.Errorf("read migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	contract := 0
	if m.contract {
		contract = 1
	}
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version, name, checksum, applied_at, contract) VALUES (?, ?, ?, ?, ?)"),
		m.version, m.name, m.checksum, time.Now().UnixMicro(), contract); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	s.log.Info("applied migration", "engine", s.engine, "migration", m.name)
	return nil
}
