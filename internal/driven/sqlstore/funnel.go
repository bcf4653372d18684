package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain"
)

// funnel serialises SQLite writes through one connection and commits them in
// groups: each queued transaction runs inside its own SAVEPOINT of a shared
// BEGIN IMMEDIATE ... COMMIT (a group of one needs none), so one fsync covers
// many use cases while a failing one rolls back alone. SQLite allows one writer at a time anyway;
// funnelling means this process never waits on (or fails with) "database is
// locked" against itself, and group commit is what turns that single writer
// into throughput.
//
// The funnel holds the writer's one connection for good and runs the
// transaction as SQL on it, not through database/sql's Tx: a *sql.Tx
// starts a goroutine to watch its context, and every result set read in it
// another to watch the transaction's (whatever the statement's context),
// which at 5,000 live deliveries a second was some 26,000 goroutines a
// second on serve's one core. On a *sql.Conn, with the uncancellable
// contexts the funnel's statements run under (Tx.run), there are none.
type funnel struct {
	s    *Store
	conn *sql.Conn
	max  int
	jobs chan *job
	mu   sync.RWMutex // held for reading while submitting; close takes it to stop intake
	shut bool
	done chan struct{}
}

type job struct {
	ctx    context.Context
	fn     func(*Tx) error
	raw    func() error // instead of fn: runs on the writer outside any transaction
	result chan error
}

var errClosed = &domain.Error{Code: domain.CodeUnavailable, Op: "sqlstore", Msg: "store is shutting down"}

func newFunnel(s *Store, conn *sql.Conn, max int) *funnel {
	f := &funnel{s: s, conn: conn, max: max, jobs: make(chan *job, max), done: make(chan struct{})}
	go f.loop()
	return f
}

// do runs fn in a write transaction and returns once it committed (or
// failed). A caller whose ctx ends while queued gets its ctx error and fn
// never runs; once fn started, the caller waits for the commit outcome, so
// "returned nil" always means "durable".
func (f *funnel) do(ctx context.Context, fn func(*Tx) error) error {
	return f.submit(&job{ctx: ctx, fn: fn, result: make(chan error, 1)})
}

// checkpoint runs a passive checkpoint on the writer's connection between
// two group commits: no frame can be appended meanwhile, so it copies every
// frame no reader still needs and the next commit starts the WAL again from
// its beginning (checkpoint.go). It answers the WAL's size in pages and
// how many of them are in the database file.
func (f *funnel) checkpoint() (walFrames, moved int64, err error) {
	err = f.onConn(func(c *sql.Conn) error {
		start := time.Now()
		var err error
		walFrames, moved, err = walCheckpoint(c, "PASSIVE")
		f.s.metrics.reuseStop.Observe(time.Since(start).Seconds())
		return err
	})
	return walFrames, moved, err
}

// onConn runs fn on the writer's connection between two group commits,
// outside any transaction.
func (f *funnel) onConn(fn func(*sql.Conn) error) error {
	return f.submit(&job{ctx: context.Background(), result: make(chan error, 1), raw: func() error { return fn(f.conn) }})
}

func (f *funnel) submit(j *job) error {
	ctx := j.ctx
	f.mu.RLock()
	if f.shut {
		f.mu.RUnlock()
		return errClosed
	}
	select {
	case f.jobs <- j:
		f.mu.RUnlock()
	case <-ctx.Done():
		f.mu.RUnlock()
		return classify(ctx.Err())
	}
	return <-j.result
}

func (f *funnel) close() {
	f.mu.Lock()
	if !f.shut {
		f.shut = true
		close(f.jobs) // no sender holds the read lock now
	}
	f.mu.Unlock()
	<-f.done
}

// exec runs one statement of the funnel's own (BEGIN, COMMIT, ...).
func (f *funnel) exec(query string) error {
	_, err := f.conn.ExecContext(context.Background(), query)
	return err
}

func (f *funnel) loop() {
	defer close(f.done)
	batch := make([]*job, 0, f.max)
	for j := range f.jobs {
		var raw *job
		if j.raw != nil {
			raw, j = j, nil
		} else {
			batch = append(batch[:0], j)
			// Let the other runnable goroutines submit theirs first: on one
			// core the funnel otherwise wakes for the first job alone, and
			// the pickup's add and remove batches, ready a moment apart,
			// went to two commits (each with its own WAL frames for the
			// same queue rows, and its own locks).
			runtime.Gosched()
		}
	fill:
		for raw == nil && len(batch) < f.max {
			select {
			case j, ok := <-f.jobs:
				if !ok {
					break fill
				}
				if j.raw != nil {
					raw = j
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			f.commit(batch)
			batch = batch[:0]
		}
		if raw != nil {
			raw.result <- classify(raw.raw())
		}
	}
}

func (f *funnel) commit(batch []*job) {
	results := make([]error, len(batch))
	txs := make([]*Tx, len(batch))
	if err := f.exec("BEGIN IMMEDIATE"); err != nil {
		err = classify(err)
		for _, j := range batch {
			j.result <- err
		}
		return
	}
	// A group of one needs no savepoint: the transaction is the use case's
	// own, and rolls back whole when it fails. Savepoints are not free: every
	// page a use case changes inside one is first copied to the
	// sub-journal (about a tenth of serve's CPU at 5,000 uplinks/s, where
	// the uplink batch is mostly alone in its group).
	alone := len(batch) == 1
	events := false
	for i, j := range batch {
		if err := j.ctx.Err(); err != nil {
			results[i] = classify(err)
			continue
		}
		if !alone {
			if err := f.exec("SAVEPOINT w"); err != nil {
				results[i] = classify(err)
				continue
			}
		}
		t := &Tx{s: f.s, tx: f.conn}
		txs[i] = t
		err := call(j.fn, t)
		if alone {
			results[i] = err
			if err == nil {
				events = t.appended
			}
			continue
		}
		if err != nil {
			if rerr := f.exec("ROLLBACK TO w"); rerr != nil {
				err = errors.Join(err, classify(rerr))
			}
		} else {
			events = events || t.appended
		}
		if rerr := f.exec("RELEASE w"); rerr != nil && err == nil {
			err = classify(rerr)
		}
		results[i] = err
	}
	if alone && results[0] != nil {
		_ = f.exec("ROLLBACK")
		events = false
	} else if err := f.exec("COMMIT"); err != nil {
		// A COMMIT that fails (SQLITE_BUSY, SQLITE_FULL, I/O) may leave
		// the transaction open: end it, so the next group starts afresh.
		_ = f.exec("ROLLBACK")
		err = classify(err)
		f.s.metrics.failures.Inc()
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
		events = false
	} else {
		f.s.metrics.commits.Inc()
		f.s.metrics.batchSize.Observe(float64(len(batch)))
	}
	if events {
		f.s.onCommit()
	}
	// What waits for each use case's outcome (the twin cache, the uplink
	// tail) learns it before the use case's caller does.
	for i, t := range txs {
		if t != nil {
			t.end(results[i] == nil)
		}
	}
	for i, j := range batch {
		j.result <- results[i]
	}
}

// call runs fn, turning a panic into that transaction's error so one bad
// use case cannot take the whole group (and the process) down.
func call(fn func(*Tx) error, t *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &domain.Error{Code: domain.CodeInternal, Op: "sqlstore", Err: fmt.Errorf("panic in transaction: %v", r)}
		}
	}()
	return fn(t)
}
