package sqlstore_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/testinfra/pgtest"
)

func TestReopenKeepsDataAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp.db")
	s := open(t, sqlstore.Options{SQLitePath: path})
	c, err := service(s).Create(admin, account.CreateInput{Name: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, sqlstore.Options{SQLitePath: path})
	if _, err := service(s).Get(admin, c.Account.ID); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

func TestCorruptSQLiteFileIsAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlstore.Open(context.Background(), sqlstore.Options{SQLitePath: path})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not a database") {
		t.Fatalf("corrupt file: %v; want an error naming the file and the problem", err)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(b), "not a database") {
		t.Fatal("the corrupt file was modified")
	}
}

func TestUnreachablePostgresIsAClearError(t *testing.T) {
	url := "postgres://u:s3cret@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"
	_, err := sqlstore.Open(context.Background(), sqlstore.Options{URL: url})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unreachable: %v; want the host named and no password", err)
	}
}

// An old binary must not run on a schema a newer one migrated.
func TestNewerSchemaIsRefused(t *testing.T) {
	for name, o := range map[string]func(t *testing.T) sqlstore.Options{
		"sqlite": func(t *testing.T) sqlstore.Options {
			return sqlstore.Options{SQLitePath: filepath.Join(t.TempDir(), "lp.db")}
		},
		"postgres": func(t *testing.T) sqlstore.Options { return sqlstore.Options{URL: pgtest.New(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			opts := o(t)
			s := open(t, opts)
			s.Close()
			driver, dsn := "sqlite", "file:"+opts.SQLitePath
			if opts.URL != "" {
				driver, dsn = "pgx", opts.URL
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, '0999_future.sql', 'x', 0)"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			_, err = sqlstore.Open(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
				t.Fatalf("newer schema: %v", err)
			}
		})
	}
}
