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
}

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
		out = append(out, migration{v, e.Name(), string(b), hex.EncodeToString(sum[:8])})
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
// own transaction with its bookkeeping row. It refuses a database whose
// applied migrations differ from the embedded ones or are newer than them:
// running an old binary on a newer schema is how data gets corrupted.
func (s *Store) migrate(ctx context.Context) error {
	all, err := migrations(s.engine)
	if err != nil {
		return err
	}
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range all {
		if err := s.apply(ctx, m, all[len(all)-1].version); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration, latest int) error {
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
	var newest int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if newest > latest {
		return fmt.Errorf("database schema is at version %d, newer than this binary's %d: upgrade liveplane", newest, latest)
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
	if _, err := tx.ExecContext(ctx, s.q("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)"),
		m.version, m.name, m.checksum, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	s.log.Info("applied migration", "engine", s.engine, "migration", m.name)
	return nil
}
