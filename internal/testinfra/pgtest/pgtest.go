// Package pgtest gives each test a fresh PostgreSQL database on the server
// that scripts/postgres runs (the test command starts it and exports its URL).
//
// Without LIVEPLANE_TEST_POSTGRES the tests skip, loudly; with
// LIVEPLANE_REQUIRE_POSTGRES=1 (set by the test command, so always in CI) a
// missing server is a failure, never a silent skip.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// EnvURL names the variable holding the server's admin URL.
const EnvURL = "LIVEPLANE_TEST_POSTGRES"

// New creates an empty database, drops it when the test ends, and returns
// its URL.
func New(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("LIVEPLANE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("%s is not set but LIVEPLANE_REQUIRE_POSTGRES=1: run the tests through ./scripts/test", EnvURL)
		}
		t.Skipf("SKIPPED: PostgreSQL tests need %s (./scripts/test sets it)", EnvURL)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
