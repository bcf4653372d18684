package sqlstore

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// Pickup is the message pickup repository on this database. Call it once
// and share the result: it holds prepared statements.
func (s *Store) Pickup() pickup.Store {
	p := pickupStore{s: s, stmts: &stmtCache{m: map[string]*sql.Stmt{}}}
	if s.engine == engineSQLite {
		// Prepared on the writer's connection, between two group commits.
		texts := []string{findConnQuery, lockConnQuery, bumpQuery}
		for _, bySize := range groupTexts {
			texts = append(texts, bySize[:]...)
		}
		_ = s.funnel.onConn(func(c *sql.Conn) error {
			for _, q := range texts {
				if st, err := c.PrepareContext(context.Background(), q); err == nil {
					p.stmts.m[q] = st
				}
			}
			return nil
		})
	}
	return p
}

type pickupStore struct {
	s     *Store
	stmts *stmtCache
}

var _ pickup.Store = pickupStore{}

// stmtCache holds statements prepared on the SQLite writer. SQLite parses
// every statement it is not handed prepared, and on the hot path (a group
// commit of a few hundred messages) the parsing was a fifth of the work.
// PostgreSQL needs none of this: pgx caches prepared statements by text.
// They are closed with the database.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepared returns query's prepared statement bound to t, or nil when
// there is none (PostgreSQL, or a query not prepared in advance).
func (p pickupStore) prepared(ctx context.Context, t *Tx, query string) *sql.Stmt {
	p.stmts.mu.Lock()
	st := p.stmts.m[query]
	p.stmts.mu.Unlock()
	if st == nil {
		return nil
	}
	return t.stmt(t.run(ctx), st)
}

// queryP, rowP and execP run query prepared on SQLite, as text on
// PostgreSQL.
func (p pickupStore) queryP(ctx context.Context, t *Tx, query string, args ...any) (*sql.Rows, error) {
	st := p.prepared(ctx, t, query)
	if st == nil {
		rows, err := t.tx.QueryContext(t.run(ctx), t.s.q(query), args...)
		return rows, classify(err)
	}
	rows, err := st.QueryContext(t.run(ctx), args...)
	return rows, classify(err)
}

func (p pickupStore) rowP(ctx context.Context, t *Tx, query string, args ...any) *sql.Row {
	if st := p.prepared(ctx, t, query); st != nil {
		return st.QueryRowContext(t.run(ctx), args...)
	}
	return t.queryRow(ctx, query, args...)
}

func (p pickupStore) execP(ctx context.Context, t *Tx, query string, args ...any) error {
	st := p.prepared(ctx, t, query)
	if st == nil {
		_, err := t.exec(ctx, query, args...)
		return err
	}
	_, err := st.ExecContext(t.run(ctx), args...)
	return classify(err)
}

// connKey names a queue.
type connKey struct{ account, conn string }

func keyOf(m pickup.Message) connKey { return connKey{m.Account, m.ConnectionID} }

// queueSum is what a batch adds to one queue.
type queueSum struct{ n, bytes int64 }

// byQueue groups a batch's messages by queue: the queues, sorted (so
// concurrent PostgreSQL batches lock queue rows in one order), and what
// each one gains.
func byQueue(msgs []pickup.NewMessage) ([]connKey, map[connKey]*queueSum) {
	sums := map[connKey]*queueSum{}
	var keys []connKey
	for _, m := range msgs {
		k := keyOf(m.Message)
		q := sums[k]
		if q == nil {
			q = &queueSum{}
			sums[k] = q
			keys = append(keys, k)
		}
		q.n++
		q.bytes += int64(len(m.Payload))
	}
	sortKeys(keys)
	return keys, sums
}

func sortKeys(keys []connKey) {
	slices.SortFunc(keys, func(a, b connKey) int {
		if c := strings.Compare(a.account, b.account); c != 0 {
			return c
		}
		return strings.Compare(a.conn, b.conn)
	})
}

// didList stores recipients so that a DID filter is one substring test of
// "\n" + did + "\n" (DIDs never contain control characters: the domain
// refuses them).
func didList(dids []string) string { return "\n" + strings.Join(dids, "\n") + "\n" }

func didNeedle(did string) string { return "\n" + did + "\n" }

func parseDIDs(s string) []string { return strings.Split(strings.Trim(s, "\n"), "\n") }

// hasDID is the engine's substring test of column col against a parameter.
func (p pickupStore) hasDID(col string) string {
	if p.s.engine == enginePostgres {
		return "strpos(" + col + ", ?) > 0"
	}
	return "instr(" + col + ", ?) > 0"
}

// skipLocked lets PostgreSQL workers claim different rows side by side.
func (p pickupStore) skipLocked() string {
	if p.s.engine == enginePostgres {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

func (p pickupStore) blob() string {
	if p.s.engine == enginePostgres {
		return "BYTEA"
	}
	return "BLOB"
}

// placeholders returns "(?,?,?),(?,?,?)" for rows of n columns; casts, when
// given, wrap each column (PostgreSQL cannot infer VALUES column types
// outside an INSERT).
func placeholders(rows int, casts ...string) string {
	var b strings.Builder
	for r := range rows {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c, typ := range casts {
			if c > 0 {
				b.WriteByte(',')
			}
			if typ == "" {
				b.WriteByte('?')
			} else {
				b.WriteString("CAST(? AS " + typ + ")")
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}

func cols(n int) []string { return make([]string, n) }

const messageCols = "seq, id, account_id, connection_id, dids, payload, received_at"

func scanMessage(r interface{ Scan(...any) error }) (pickup.Message, int64, error) {
	var (
		m    pickup.Message
		dids string
		at   int64
	)
	err := r.Scan(&m.Seq, &m.ID, &m.Account, &m.ConnectionID, &dids, &m.Payload, &at)
	m.RecipientDIDs = parseDIDs(dids)
	m.ReceivedAt = fromMicros(at)
	return m, at, err
}

// lockConn reads (and on PostgreSQL locks) a queue's row, creating it when
// missing, so every per-connection write is serialised on it.
func (p pickupStore) lockConn(ctx context.Context, t *Tx, k connKey) (connRow, error) {
	return scanConn(p.rowP(ctx, t, lockConnQuery, k.account, k.conn))
}

// connRow is a queue's row.
type connRow struct {
	key                     connKey
	queued, bytes, pending  int64
	session, holder, instID string
	epoch                   int64
}

const connCols = "account_id, connection_id, queued, queued_bytes, pending, session_id, epoch, holder, instance"

func scanConn(r interface{ Scan(...any) error }) (connRow, error) { return scanConnAnd(r) }

// scanConnAnd scans a queue's row followed by more columns.
func scanConnAnd(r interface{ Scan(...any) error }, more ...any) (connRow, error) {
	var c connRow
	err := r.Scan(append([]any{&c.key.account, &c.key.conn, &c.queued, &c.bytes, &c.pending, &c.session, &c.epoch,
		&c.holder, &c.instID}, more...)...)
	return c, classify(err)
}

func (c connRow) lease() pickup.Lease {
	return pickup.Lease{Account: c.key.account, ConnectionID: c.key.conn, SessionID: c.session, Epoch: c.epoch,
		Holder: pickup.Holder{Instance: c.instID, Socket: c.holder}}
}

// alive returns the instances whose heartbeat is current at now.
func (p pickupStore) alive(ctx context.Context, t *Tx, now time.Time) (map[string]bool, error) {
	rows, err := t.tx.QueryContext(t.run(ctx), t.s.q("SELECT id FROM pickup_instances WHERE expires_at > ?"), micros(now))
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, classify(err)
		}
		out[id] = true
	}
	return out, classify(rows.Err())
}

// bump adds deltas to a queue's counters.
func (p pickupStore) bump(ctx context.Context, t *Tx, k connKey, queued, bytes, pending int64) error {
	if queued == 0 && bytes == 0 && pending == 0 {
		return nil
	}
	return p.execP(ctx, t, bumpQuery, queued, bytes, pending, k.account, k.conn)
}

// readTx runs fn on the read pool.
func (p pickupStore) read(ctx context.Context, query string, args ...any) *sql.Row {
	return p.s.rdb.QueryRowContext(ctx, p.s.q(query), args...)
}
