// Package sqlstore is the system of record on SQL: SQLite (modernc, no cgo)
// by default and PostgreSQL (pgx) for scale-out, with the same schema shape,
// the same queries and one contract test suite for both.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

const (
	engineSQLite   = "sqlite"
	enginePostgres = "postgres"
)

// Options configure Open.
type Options struct {
	// URL is "postgres://..." for PostgreSQL; otherwise SQLitePath is used.
	URL        string
	SQLitePath string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// OnCommit is called after every committed transaction that appended
	// events, so the outbox publisher wakes without polling. Must not block.
	OnCommit func()
	// MaxBatch bounds how many SQLite write transactions share one commit.
	MaxBatch int
}

// Store is an open database. It is safe for concurrent use.
type Store struct {
	engine   string
	wdb      *sql.DB // writes (SQLite: one connection, fed by the funnel)
	rdb      *sql.DB // reads (SQLite: a pool of read-only connections)
	cdb      *sql.DB // SQLite: the checkpointer's connection
	path     string  // SQLite: the database file
	log      *slog.Logger
	onCommit func()
	funnel   *funnel       // nil on Postgres, which handles concurrent writers itself
	ckpt     *checkpointer // SQLite only
	// twinReads batches the uplinks' twin reads that miss the twin cache
	// (PostgreSQL only; on SQLite a read is a local call).
	twinReads *twinReads
	// twinCache holds twins and defaults; on PostgreSQL twinListen keeps
	// it coherent with other writers (twincache.go).
	twinCache  *twinCache
	twinListen *twinListener
	// uplinkStmts are the uplink batch's statements, prepared once on the
	// writer (SQLite only; uplinks_sqlite.go).
	uplinkStmts *sqliteUplinkStmts
	// uplinkTail and uplinkIndex keep the per-device indexes of uplinks
	// (SQLite only; uplinkindex.go).
	uplinkTail  *uplinkTail
	uplinkIndex *uplinkIndexer
	queries     sync.Map
	metrics     *metrics
}

// Open connects, checks the database answers and migrates it. Every error
// says which database it was about; credentials never appear in it.
func Open(ctx context.Context, o Options) (*Store, error) {
	s := &Store{log: o.Logger, onCommit: o.OnCommit}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.onCommit == nil {
		s.onCommit = func() {}
	}
	s.metrics = newMetrics(o.Registerer)
	var err error
	if strings.HasPrefix(o.URL, "postgres://") || strings.HasPrefix(o.URL, "postgresql://") {
		err = s.openPostgres(ctx, o.URL)
	} else {
		err = s.openSQLite(ctx, o.SQLitePath)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", s.describe(o), err)
	}
	if s.engine == engineSQLite {
		if err := s.startWriter(ctx, o.MaxBatch); err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: %w", s.describe(o), err)
		}
	} else {
		// After the migrations: the trigger that announces changes exists.
		s.twinCache = newTwinCache(true)
		s.twinListen = newTwinListener(o.URL, s.wdb, s.twinCache, s.log, s.metrics).start()
	}
	return s, nil
}

func (s *Store) describe(o Options) string {
	if s.engine == enginePostgres {
		u, err := url.Parse(o.URL)
		if err != nil {
			return "postgres"
		}
		return "postgres " + u.Host + u.Path
	}
	return "sqlite " + o.SQLitePath
}

func (s *Store) openPostgres(ctx context.Context, dsn string) error {
	s.engine = enginePostgres
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("postgres: bad URL: %w", redact(err, dsn))
	}
	db.SetMaxOpenConns(64)
	db.SetMaxIdleConns(64)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		u, _ := url.Parse(dsn)
		host := ""
		if u != nil {
			host = u.Host
		}
		return fmt.Errorf("postgres %s: cannot connect: %w", host, redact(err, dsn))
	}
	s.wdb, s.rdb = db, db
	s.twinReads = newTwinReads(db)
	return nil
}

// sqliteMmapSize bounds the database file mapped into memory (address
// space, not RSS: pages count only while the kernel keeps them).
const sqliteMmapSize = 256 << 20

// openSQLite opens a single writer connection and a pool of readers. WAL
// lets readers run beside the writer; the busy timeout covers the moments a
// checkpoint or another process holds the lock; all writes go through the
// funnel, so this process never races itself for the write lock.
func (s *Store) openSQLite(ctx context.Context, path string) error {
	s.engine = engineSQLite
	if path == "" {
		return errors.New("sqlite: no database path")
	}
	// mmap_size: pages are read through a shared mapping instead of a
	// pread(2) per page miss (the default 2 MiB page cache missed on most
	// uplinks' twin reads and index inserts); cache_size keeps 32 MiB of
	// decoded pages per connection.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)" +
		"&_pragma=mmap_size(" + strconv.Itoa(sqliteMmapSize) + ")&_pragma=cache_size(-32768)"
	// The writer never checkpoints (wal_autocheckpoint 0): the
	// checkpointer does, from a connection of its own (checkpoint.go).
	// Its page cache is 4 MiB (the pages it writes are few and hot; the
	// rest it reads through the mapping): when a commit ends, SQLite drops
	// cached pages past the database's end, walking the cache's whole hash
	// table when it cannot bound them (pcache1TruncateUnsafe), and with 32
	// MiB that walk was 7.5 % of serve's CPU at 5,000 uplinks/s (1.8 % at
	// 4 MiB).
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=cache_size(-4096)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	c, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		w.Close()
		r.Close()
		return fmt.Errorf("sqlite %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	s.wdb, s.rdb, s.cdb = w, r, c
	s.path = path
	return nil
}

// startWriter hands the SQLite writer's one connection to the funnel, once
// the migrations (which run on it through the pool) are done, and prepares
// the uplink batch's statements on it.
func (s *Store) startWriter(ctx context.Context, maxBatch int) error {
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return err
	}
	if s.uplinkStmts, err = prepareUplinkStmts(ctx, conn); err != nil {
		conn.Close()
		return err
	}
	if s.uplinkTail, err = loadUplinkTail(ctx, conn); err != nil {
		conn.Close()
		return err
	}
	if maxBatch <= 0 {
		maxBatch = 256
	}
	s.funnel = newFunnel(s, conn, maxBatch)
	s.twinCache = newTwinCache(false)
	s.metrics.twinCacheOn.Set(1)
	s.ckpt = startCheckpointer(s.cdb, s.path, s.funnel.checkpoint, s.log, s.metrics)
	s.uplinkIndex = startUplinkIndexer(s, s.uplinkTail)
	return nil
}

// Engine reports "sqlite" or "postgres".
func (s *Store) Engine() string { return s.engine }

// Ping checks the database answers; /readyz calls it.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return classify(err)
	}
	return nil
}

// Close stops the funnel after it drained and closes the pools.
func (s *Store) Close() error {
	if s.uplinkIndex != nil {
		s.uplinkIndex.close()
	}
	if s.funnel != nil {
		s.funnel.close()
	}
	if s.ckpt == nil && s.cdb != nil {
		s.cdb.Close() // the store failed before the checkpointer took it
	}
	if s.twinListen != nil {
		s.twinListen.close()
	}
	if s.twinReads != nil {
		s.twinReads.close()
	}
	var err error
	if s.ckpt != nil {
		err = s.ckpt.close()
	}
	if s.uplinkStmts != nil {
		err = errors.Join(err, s.uplinkStmts.close())
	}
	if s.funnel != nil {
		err = errors.Join(err, s.funnel.conn.Close())
	}
	err = errors.Join(err, s.wdb.Close())
	if s.rdb != s.wdb {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// q rewrites '?' placeholders to '$n' for PostgreSQL. Queries are written
// once, in the SQLite form, and the rewrite is cached.
func (s *Store) q(query string) string {
	if s.engine != enginePostgres {
		return query
	}
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	s.queries.Store(query, b.String())
	return b.String()
}

// redact removes the password of dsn from err's text.
func redact(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	pw, ok := u.User.Password()
	if !ok || pw == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
}

func (s *Store) now() time.Time { return time.Now().UTC() }
