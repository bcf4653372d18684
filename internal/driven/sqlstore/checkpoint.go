package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
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
// never waits for the disk at all, and the WAL restarts from its beginning
// once a checkpoint caught up.
const (
	checkpointEvery = 250 * time.Millisecond
	// walRestartFrames is the WAL size (in pages) past which the
	// checkpointer waits for the writer to let it restart the WAL: a
	// backstop for readers that kept old snapshots open long enough for
	// passive checkpoints to fall behind. 65,536 pages of 4 KiB: 256 MiB.
	walRestartFrames = 65536
)

type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	m    *metrics
	stop chan struct{}
	done chan struct{}
	once sync.Once
	err  error // of close
}

func startCheckpointer(db *sql.DB, log *slog.Logger, m *metrics) *checkpointer {
	c := &checkpointer{db: db, log: log, m: m, stop: make(chan struct{}), done: make(chan struct{})}
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
		if err == nil && walFrames > walRestartFrames {
			c.log.Warn("sqlite WAL large; restarting it", "pages", walFrames)
			_, err = c.checkpoint("RESTART")
		}
		if err != nil {
			c.log.Warn("sqlite checkpoint failed; will retry", "err", err)
		}
	}
}

// checkpoint runs one checkpoint of the given mode and returns the WAL's
// size in pages.
func (c *checkpointer) checkpoint(mode string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var busy, walFrames, moved int64
	if err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &walFrames, &moved); err != nil {
		return 0, fmt.Errorf("wal_checkpoint(%s): %w", mode, err)
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
