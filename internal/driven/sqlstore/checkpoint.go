package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// The WAL is moved into the database file by a connection of its own, never
// by the writer. SQLite's automatic checkpoint runs inside the committing
// connection: with every write funnelled through one connection, each
// checkpoint (copying the WAL and an fsync of the database file) stopped
// every writer in the process for its whole duration, which is what the
// tail of the ack latencies was made of. A PASSIVE checkpoint from another
// connection copies what no reader still needs while the writer keeps
// appending; with synchronous=NORMAL a commit does not fsync, so the writer
// never waits for the disk at all.
//
// The WAL must also start again from its beginning now and then (a
// "restart"), and under a steady stream of commits it never would: SQLite
// restarts it at the next write only when a checkpoint has copied every
// frame, and commits land during every passive pass. A WAL that only grows
// costs the writer: each new frame lands in blocks the file system has yet
// to allocate (ext4's delayed allocation), so the checkpointer's fsync of
// the WAL allocates them while holding the page locks of the WAL's tail,
// and the writer's next append waited for it (write(2) blocked up to 17 ms
// in an execution trace at 10,000 adds/s). So, past walReuseFrames, the
// checkpointer makes the database file durable itself and then asks the
// funnel for the last step between two group commits: a passive checkpoint
// on the writer's own connection copies the few frames committed since,
// and the next commit restarts the WAL, which is overwritten in place from
// then on (blocks allocated, pages cached).

// walReuseFrames is the WAL size (in pages) past which the checkpointer has
// the funnel catch up so the WAL restarts: 49,152 pages of 4 KiB, 192 MiB.
// Each catch-up stops the writer for 1-8 ms, 2.3 ms on average (a copy and
// three small fsyncs; liveplane_sqlite_wal_reuse_seconds), and at 10,000
// adds/s the WAL takes 60-120 MiB/s (every group commit logs each page it
// touched), so this is one stop every 1.2-3 s; at 32 MiB it was 3.5 a
// second. A variable for tests.
var walReuseFrames int64 = 49152

const (
	checkpointEvery = 250 * time.Millisecond
	// Before a catch-up, the checkpointer repeats a passive pass and a sync
	// of the database file (at most reuseRounds times) until one round takes
	// less than reuseQuick.
	reuseRounds = 4
	reuseQuick  = 2 * time.Millisecond
	// walRestartFrames is the WAL size (in pages) past which the
	// checkpointer waits for the writer to let it restart the WAL: a
	// backstop for readers that kept old snapshots open long enough for
	// passive checkpoints to fall behind. 65,536 pages of 4 KiB: 256 MiB.
	walRestartFrames = 65536
)

type checkpointer struct {
	db   *sql.DB
	path string // the database file, fsynced before a catch-up
	// catchUp runs a passive checkpoint on the writer's connection between
	// two group commits (funnel.checkpoint).
	catchUp func() (walFrames, moved int64, err error)
	log     *slog.Logger
	m       *metrics
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	err     error // of close
}

func startCheckpointer(db *sql.DB, path string, catchUp func() (int64, int64, error), log *slog.Logger, m *metrics) *checkpointer {
	c := &checkpointer{db: db, path: path, catchUp: catchUp, log: log, m: m, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		walFrames, err := c.checkpoint("PASSIVE")
		if err == nil && walFrames > walReuseFrames {
			err = c.reuse()
		}
		if err == nil && walFrames > walRestartFrames {
			c.log.Warn("sqlite WAL large; restarting it", "pages", walFrames)
			_, err = c.checkpoint("RESTART")
		}
		if err != nil {
			c.log.Warn("sqlite checkpoint failed; will retry", "err", err)
		}
	}
}

// reuse makes the WAL start again from its beginning at the next commit:
// the pages copied so far are made durable here (so the writer's checkpoint
// has few to fsync), then the funnel copies the rest between two group
// commits. A single pass and sync before the catch-up left it 250 ms of
// commits to copy at worst and the writer stopped 8.5 ms on average at
// 10,000 adds/s; with the rounds, 2.3 ms.
func (c *checkpointer) reuse() error {
	// What the writer copies and fsyncs is what was committed since the
	// start of the checkpointer's last pass, so run passes and database
	// syncs back to back until one round is quick.
	start := time.Now()
	if err := c.syncDB(); err != nil {
		return err
	}
	for round := 0; round < reuseRounds && time.Since(start) > reuseQuick; round++ {
		start = time.Now()
		if _, err := c.checkpoint("PASSIVE"); err != nil {
			return err
		}
		if err := c.syncDB(); err != nil {
			return err
		}
	}
	walFrames, moved, err := c.catchUp()
	if err == errClosed {
		return nil // the store is closing; close truncates the WAL
	}
	if err != nil {
		return fmt.Errorf("writer's wal_checkpoint: %w", err)
	}
	c.m.walReuses.Inc()
	c.m.walPages.Set(float64(walFrames - moved))
	return nil
}

func (c *checkpointer) syncDB() error {
	var err error
	withOwnProc(func() { err = syncFile(c.path) })
	return err
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// walCheckpoint runs one checkpoint of the given mode on db, with a P of
// its own, and returns the WAL's size in pages and how many of them are in
// the database file.
func walCheckpoint(db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, mode string) (walFrames, moved int64, err error) {
	var busy int64
	withOwnProc(func() {
		err = db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &walFrames, &moved)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("wal_checkpoint(%s): %w", mode, err)
	}
	return walFrames, moved, nil
}

// checkpoint runs one checkpoint of the given mode on the checkpointer's
// connection and returns the WAL's size in pages.
func (c *checkpointer) checkpoint(mode string) (int64, error) {
	walFrames, moved, err := walCheckpoint(c.db, mode)
	if err != nil {
		return 0, err
	}
	c.m.checkpoints.Inc()
	c.m.walPages.Set(float64(walFrames - moved))
	return walFrames, nil
}

// close stops the loop and leaves an empty WAL behind (TRUNCATE), so a
// stopped store is one file.
func (c *checkpointer) close() error {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		_, c.err = c.checkpoint("TRUNCATE")
		c.err = errors.Join(c.err, c.db.Close())
	})
	return c.err
}
