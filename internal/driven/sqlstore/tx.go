package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/eventcodec"
)

// Tx is one use case's write transaction. On SQLite it lives inside a
// savepoint of a group commit; on PostgreSQL it is a transaction of its own.
// It implements the Tx port of every aggregate.
type Tx struct {
	s *Store
	// tx runs the statements: a *sql.Tx on PostgreSQL, the writer's
	// *sql.Conn on SQLite (the funnel's transaction is SQL on it).
	tx       sqlRunner
	appended bool
	// twinWrites are this use case's changes to twins and defaults, for the
	// SQLite twin cache (twincache.go), which applies them as t ends.
	twinWrites []twinWrite
	// ended run once the transaction committed or rolled back.
	ended []func(committed bool)
}

// afterEnd runs fn once t committed (true) or rolled back (false).
func (t *Tx) afterEnd(fn func(committed bool)) { t.ended = append(t.ended, fn) }

func (t *Tx) end(committed bool) {
	for _, fn := range t.ended {
		fn(committed)
	}
}

// sqlRunner is what *sql.Tx and *sql.Conn share.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmt returns st to run in t. On SQLite statements are prepared on the
// writer's connection, the one t runs on, and are used as they are (never
// closed by a use case); a *sql.Tx needs its own handle of a statement.
func (t *Tx) stmt(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	if tx, ok := t.tx.(*sql.Tx); ok {
		return tx.StmtContext(ctx, st)
	}
	return st
}

// update runs fn in a write transaction (see account.Store.Update).
func (s *Store) update(ctx context.Context, fn func(*Tx) error) error {
	if s.funnel != nil {
		return s.funnel.do(ctx, fn)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	t := &Tx{s: s, tx: tx}
	if err := call(fn, t); err != nil {
		_ = tx.Rollback()
		t.end(false)
		return err
	}
	if err := tx.Commit(); err != nil {
		s.metrics.failures.Inc()
		t.end(false)
		return classify(err)
	}
	t.end(true)
	s.metrics.commits.Inc()
	if t.appended {
		s.onCommit()
	}
	return nil
}

func (t *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := t.tx.ExecContext(t.run(ctx), t.s.q(query), args...)
	return r, classify(err)
}

func (t *Tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.run(ctx), t.s.q(query), args...)
}

// run is the context a statement of t runs under. On SQLite every write
// transaction is a turn of the funnel, which skips a use case whose
// context ended before its turn; once a statement runs, it runs to the end,
// so its context's cancellation is dropped. A cancellable context costs
// the driver a watcher goroutine and a progress callback per statement, and
// database/sql one more goroutine per result set: with the pickup's small
// group commits that was two goroutines per statement, several statements
// per message. On PostgreSQL the context still bounds each round trip.
func (t *Tx) run(ctx context.Context) context.Context {
	if t.s.engine == engineSQLite {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// forUpdate locks the rows a read-modify-write reads, on PostgreSQL; SQLite
// transactions are already serial.
func (t *Tx) forUpdate() string {
	if t.s.engine == enginePostgres {
		return " FOR UPDATE"
	}
	return ""
}

// Append encodes events and adds them to the outbox in this transaction.
func (t *Tx) Append(ctx context.Context, events ...domain.Event) error {
	for _, ev := range events {
		data, err := eventcodec.Encode(ev)
		if err != nil {
			return domain.Wrap("sqlstore.Append", err)
		}
		if _, err := t.exec(ctx, "INSERT INTO outbox (id, subject, data, created_at) VALUES (?, ?, ?, ?)",
			ev.ID, ev.Subject(), data, micros(ev.Time)); err != nil {
			return err
		}
		t.appended = true
	}
	return nil
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
