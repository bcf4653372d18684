package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// twinChannel is where migration 0010's trigger announces changes to
// device_twins and config_defaults. Payloads starting with '!' are probes.
const twinChannel = "liveplane_twins"

const (
	// twinProbeEvery: how often the listener proves the channel works end
	// to end, by a NOTIFY of its own sent through the pool that it must
	// hear within twinProbeTimeout. A connection lost without a word from
	// the network, or a pooler that does not carry notifications
	// (PgBouncer in transaction mode), turns the cache off within
	// twinProbeEvery + twinProbeTimeout.
	twinProbeEvery   = 5 * time.Second
	twinProbeTimeout = 5 * time.Second
	twinRetryMin     = 250 * time.Millisecond
	twinRetryMax     = 10 * time.Second
)

// twinListener keeps a PostgreSQL store's twin cache coherent with every
// other writer (twincache.go): it LISTENs on its own connection, drops the
// key of each change it hears, and keeps the cache on only while it can
// show that it hears them.
type twinListener struct {
	dsn   string
	db    *sql.DB // the store's pool, for the probes
	cache *twinCache
	log   *slog.Logger
	m     *metrics
	// probeEvery and probeTimeout are twinProbeEvery and twinProbeTimeout
	// (tests shorten them).
	probeEvery, probeTimeout time.Duration
	cancel                   context.CancelFunc
	done                     chan struct{}
}

// twinListenerName is the listener's application_name in pg_stat_activity.
const twinListenerName = "liveplane twin cache"

func newTwinListener(dsn string, db *sql.DB, c *twinCache, log *slog.Logger, m *metrics) *twinListener {
	return &twinListener{dsn: dsn, db: db, cache: c, log: log, m: m, probeEvery: twinProbeEvery, probeTimeout: twinProbeTimeout,
		done: make(chan struct{})}
}

func (l *twinListener) start() *twinListener {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(ctx)
	return l
}

func (l *twinListener) close() {
	l.cancel()
	<-l.done
}

func (l *twinListener) run(ctx context.Context) {
	defer close(l.done)
	wait := twinRetryMin
	for {
		heard, err := l.listen(ctx)
		l.setOn(false)
		if ctx.Err() != nil {
			return
		}
		if heard {
			wait = twinRetryMin
		}
		l.log.Warn("twin cache off: not hearing PostgreSQL notifications; uplinks read twins from the database", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, twinRetryMax)
	}
}

func (l *twinListener) setOn(on bool) {
	l.cache.setOn(on)
	if on {
		l.m.twinCacheOn.Set(1)
	} else {
		l.m.twinCacheOn.Set(0)
	}
}

// listen connects, LISTENs and turns the cache on once a probe came back,
// then drops what each notification names until the connection fails or a
// probe goes unanswered. heard reports whether the cache was on.
func (l *twinListener) listen(ctx context.Context) (heard bool, err error) {
	cfg, err := pgx.ParseConfig(l.dsn)
	if err != nil {
		return false, redact(err, l.dsn)
	}
	cfg.ConnectTimeout = l.probeTimeout
	cfg.RuntimeParams["application_name"] = twinListenerName
	// A wait that times out only interrupts the read: the connection stays
	// usable (the default would also send PostgreSQL a cancel request).
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, redact(err, l.dsn)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+twinChannel); err != nil {
		return false, err
	}
	if err := l.probe(ctx, conn); err != nil {
		return false, err
	}
	l.setOn(true)
	l.log.Info("twin cache on: hearing PostgreSQL's notifications of twin changes")
	next := time.Now().Add(l.probeEvery)
	for {
		wctx, cancel := context.WithDeadline(ctx, next)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			l.heard(n.Payload)
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err):
			if err := l.probe(ctx, conn); err != nil {
				return true, err
			}
			next = time.Now().Add(l.probeEvery)
		default:
			return true, err
		}
	}
}

// probe sends a notification of its own through the pool, as another
// writer's would travel, and waits for conn to hear it; what else it hears
// meanwhile it handles.
func (l *twinListener) probe(ctx context.Context, conn *pgx.Conn) error {
	token := "!" + rand.Text()
	if _, err := l.db.ExecContext(ctx, "SELECT pg_notify($1, $2)", twinChannel, token); err != nil {
		return fmt.Errorf("probe: %w", classify(err))
	}
	deadline := time.Now().Add(l.probeTimeout)
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if pgconn.Timeout(err) && ctx.Err() == nil {
				return fmt.Errorf("probe: own notification not heard within %v", l.probeTimeout)
			}
			return fmt.Errorf("probe: %w", err)
		}
		if n.Payload == token {
			return nil
		}
		l.heard(n.Payload)
	}
}

func (l *twinListener) heard(payload string) {
	if strings.HasPrefix(payload, "!") {
		return // a probe, ours or another replica's (ids never start with '!')
	}
	l.cache.invalidate(payload)
	l.m.twinInvalidations.Inc()
}
