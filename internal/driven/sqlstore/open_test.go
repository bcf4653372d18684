package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// An old binary keeps running on a schema that a newer one only extended
// (a rolling upgrade or a rollback), and refuses one that a newer binary
// changed incompatibly (a contract migration).
func TestNewerSchema(t *testing.T) {
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
			defer db.Close()
			// A newer binary added a table: this one still starts.
			if _, err := db.Exec("INSERT INTO schema_migrations (version, name, checksum, applied_at, contract) VALUES (998, '0998_future_table.sql', 'x', 0, 0)"); err != nil {
				t.Fatal(err)
			}
			s2, err := sqlstore.Open(context.Background(), opts)
			if err != nil {
				t.Fatalf("schema extended by a newer binary: %v", err)
			}
			s2.Close()
			// A newer binary dropped a column: this one must not start.
			if _, err := db.Exec("INSERT INTO schema_migrations (version, name, checksum, applied_at, contract) VALUES (999, '0999_drop_column.sql', 'x', 0, 1)"); err != nil {
				t.Fatal(err)
			}
			_, err = sqlstore.Open(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), "newer than this binary") || !strings.Contains(err.Error(), "0999_drop_column.sql") {
				t.Fatalf("schema contracted by a newer binary: %v", err)
			}
		})
	}
}

// The writer never checkpoints; the checkpointer's own connection keeps the
// WAL small while writes go on, and a closed store leaves no WAL behind.
func TestSQLiteCheckpointsOffTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lp.db")
	reg := prometheus.NewRegistry()
	s := open(t, sqlstore.Options{SQLitePath: path, Registerer: reg})
	svc := service(s)
	for i := range 300 {
		if _, err := svc.Create(admin, account.CreateInput{Name: fmt.Sprintf("ckpt-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	gauge := func(name string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				if m := mf.GetMetric()[0]; m.GetGauge() != nil {
					return m.GetGauge().GetValue()
				}
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return -1
	}
	deadline := time.Now().Add(10 * time.Second)
	for gauge("liveplane_sqlite_checkpoints_total") < 1 || gauge("liveplane_sqlite_wal_pages") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("checkpoints %v, WAL pages left %v: the checkpointer did not catch up",
				gauge("liveplane_sqlite_checkpoints_total"), gauge("liveplane_sqlite_wal_pages"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	wal, err := os.Stat(path + "-wal")
	if err != nil || wal.Size() == 0 {
		t.Fatalf("WAL while open: %v, %v; want a WAL in use", wal, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() != 0 {
		t.Fatalf("WAL after close: %d bytes, want none", st.Size())
	}
}
