package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/pickup"
)

// PickupQueues lists the pickup queues for operators. It reads on the read
// pool and shares nothing with Pickup, so it works with the gateway off.
func (s *Store) PickupQueues() pickup.QueueLister { return queueLister{s} }

type queueLister struct{ s *Store }

var _ pickup.QueueLister = queueLister{}

// ageWalk bounds the messages one SortAge page reads (see ListQueues).
// Measured on PostgreSQL on this project's 2-core machines: about 35 ms
// for 10,000 messages none of which is a queue's head, the worst case.
const ageWalk = 10000

// What a listed row holds after the queue's own columns: the head's
// receipt time (NULL for an empty queue) and whether the lease's instance
// heartbeats. The head is one probe of pickup_messages_queue (account,
// connection, seq) per listed row; liveness one probe of pickup_instances'
// key.
const (
	queueCols = `c.account_id, c.connection_id, c.queued, c.pending, c.queued_bytes, c.session_id, c.epoch,
		c.holder, c.instance, c.session_since, c.pushes_sent, c.last_push_at`
	queueLive = `CASE WHEN c.session_id != '' AND EXISTS (SELECT 1 FROM pickup_instances i
		WHERE i.id = c.instance AND i.expires_at > ?) THEN 1 ELSE 0 END`
	queueHead = `(SELECT m.received_at FROM pickup_messages m
		WHERE m.account_id = c.account_id AND m.connection_id = c.connection_id ORDER BY m.seq LIMIT 1)`
)

// ListQueues costs, with 100,000 queues:
//
//   - SortConnection walks the primary key of pickup_connections from the
//     cursor: O(limit) whatever the number of queues.
//   - SortDepth reads every queue row and keeps the top `limit` (a top-N
//     sort, no index): measured 35 ms on PostgreSQL for 100,000 queues.
//     An index on queued would make it O(limit), but queued changes on
//     every addMessage: on PostgreSQL the index would turn the counter
//     update of every group commit from a HOT update into one that writes
//     every index of the row, and on SQLite add an index write to each;
//     the add path is short of its throughput goal already (BENCHMARKS.md),
//     so the listing pays, not the queue.
//   - SortAge uses the order the queue already keeps: the server sequence
//     (pickup_messages' primary key) is the order of receipt, so queues
//     ordered by their oldest message are the queues in the order their
//     heads appear in a walk of that key. A message is a head when no
//     message of its queue has a lower sequence: one probe of
//     pickup_messages_queue. The walk reads at most ageWalk messages per
//     page (a few old, deep queues cannot make one page read them all): a
//     page may then hold fewer than limit queues and a cursor to go on.
//     Computing each queue's head and sorting instead costs one probe per
//     non-empty queue: 600 ms for 100,000 on PostgreSQL.
func (l queueLister) ListQueues(ctx context.Context, q pickup.QueueQuery) (pickup.QueuePage, error) {
	cur, err := parseCursor(q.Sort, q.After)
	if err != nil {
		return pickup.QueuePage{}, err
	}
	now := micros(q.Now)
	switch q.Sort {
	case pickup.SortAge:
		return l.byAge(ctx, q, cur, now)
	case pickup.SortDepth:
		rows, err := l.s.rdb.QueryContext(ctx, l.s.q(`SELECT `+queueCols+`, `+queueHead+`, `+queueLive+`
			FROM pickup_connections c
			WHERE c.queued < ? OR (c.queued = ? AND (c.account_id, c.connection_id) > (?, ?))
			ORDER BY c.queued DESC, c.account_id, c.connection_id LIMIT ?`),
			now, cur.depth, cur.depth, cur.account, cur.conn, q.Limit)
		return l.page(rows, err, q)
	default:
		rows, err := l.s.rdb.QueryContext(ctx, l.s.q(`SELECT `+queueCols+`, `+queueHead+`, `+queueLive+`
			FROM pickup_connections c WHERE (c.account_id, c.connection_id) > (?, ?)
			ORDER BY c.account_id, c.connection_id LIMIT ?`), now, cur.account, cur.conn, q.Limit)
		return l.page(rows, err, q)
	}
}

// page scans a key- or depth-ordered page; a full page has a next cursor.
func (l queueLister) page(rows *sql.Rows, err error, q pickup.QueueQuery) (pickup.QueuePage, error) {
	if err != nil {
		return pickup.QueuePage{}, classify(err)
	}
	defer rows.Close()
	var out pickup.QueuePage
	for rows.Next() {
		qi, err := scanQueue(rows)
		if err != nil {
			return pickup.QueuePage{}, err
		}
		out.Queues = append(out.Queues, qi)
	}
	if err := rows.Err(); err != nil {
		return pickup.QueuePage{}, classify(err)
	}
	if n := len(out.Queues); n == q.Limit {
		last := out.Queues[n-1]
		out.Next = queueCursor{sort: q.Sort, depth: last.Depth, account: last.Account, conn: last.ConnectionID}.String()
	}
	return out, nil
}

func (l queueLister) byAge(ctx context.Context, q pickup.QueueQuery, cur queueCursor, now int64) (pickup.QueuePage, error) {
	rows, err := l.s.rdb.QueryContext(ctx, l.s.q(`SELECT `+queueCols+`, h.received_at, `+queueLive+`, h.seq
		FROM (SELECT m.seq, m.account_id, m.connection_id, m.received_at
			FROM (SELECT seq, account_id, connection_id, received_at FROM pickup_messages
				WHERE seq > ? ORDER BY seq LIMIT ?) m
			WHERE NOT EXISTS (SELECT 1 FROM pickup_messages o
				WHERE o.account_id = m.account_id AND o.connection_id = m.connection_id AND o.seq < m.seq)
			ORDER BY m.seq LIMIT ?) h
		JOIN pickup_connections c ON c.account_id = h.account_id AND c.connection_id = h.connection_id
		ORDER BY h.seq`), now, cur.seq, ageWalk, q.Limit)
	if err != nil {
		return pickup.QueuePage{}, classify(err)
	}
	defer rows.Close()
	var (
		out     pickup.QueuePage
		lastSeq int64
	)
	for rows.Next() {
		qi, err := scanQueue(rows, &lastSeq)
		if err != nil {
			return pickup.QueuePage{}, err
		}
		out.Queues = append(out.Queues, qi)
	}
	if err := rows.Err(); err != nil {
		return pickup.QueuePage{}, classify(err)
	}
	if len(out.Queues) == q.Limit {
		out.Next = queueCursor{sort: pickup.SortAge, seq: lastSeq}.String()
		return out, nil
	}
	// Fewer heads than asked: either the walk reached the end of the
	// queues, or it read its ageWalk messages and the next page goes on
	// after the last of them.
	var end int64
	err = l.s.rdb.QueryRowContext(ctx, l.s.q(`SELECT seq FROM pickup_messages WHERE seq > ? ORDER BY seq LIMIT 1 OFFSET ?`),
		cur.seq, ageWalk-1).Scan(&end)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return pickup.QueuePage{}, classify(err)
	default:
		out.Next = queueCursor{sort: pickup.SortAge, seq: end}.String()
	}
	return out, nil
}

func scanQueue(r interface{ Scan(...any) error }, more ...any) (pickup.QueueInfo, error) {
	var (
		qi                  pickup.QueueInfo
		since, last         int64
		head                sql.NullInt64
		live                int64
		session, sock, inst string
		epoch               int64
	)
	err := r.Scan(append([]any{&qi.Account, &qi.ConnectionID, &qi.Depth, &qi.Pending, &qi.Bytes, &session, &epoch,
		&sock, &inst, &since, &qi.PushesSent, &last, &head, &live}, more...)...)
	if err != nil {
		return qi, classify(err)
	}
	if head.Valid {
		qi.Oldest = fromMicros(head.Int64)
	}
	if session != "" {
		qi.Session = pickup.Lease{Account: qi.Account, ConnectionID: qi.ConnectionID, SessionID: session, Epoch: epoch,
			Holder: pickup.Holder{Instance: inst, Socket: sock}}
		qi.SessionLive = live == 1
		if since > 0 {
			qi.SessionSince = fromMicros(since)
		}
	}
	if last > 0 {
		qi.LastPush = fromMicros(last)
	}
	return qi, nil
}

// queueCursor is where a page ends, in the terms of its sort. Its text is
// opaque to clients: base64url of "sort|depth|seq|account|connection".
type queueCursor struct {
	sort          pickup.QueueSort
	depth, seq    int64
	account, conn string
}

func (c queueCursor) String() string {
	raw := strings.Join([]string{string(c.sort), strconv.FormatInt(c.depth, 10), strconv.FormatInt(c.seq, 10),
		c.account, c.conn}, "|")
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// parseCursor reads a page token; "" is the first page of sort.
func parseCursor(sort pickup.QueueSort, token string) (queueCursor, error) {
	if token == "" {
		return queueCursor{sort: sort, depth: math.MaxInt64}, nil
	}
	bad := domain.Errorf(domain.CodeInvalid, "pickup.ListQueues", "page_token is not one this listing issued")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return queueCursor{}, bad
	}
	// Account and connection ids may hold "|": they are the last two
	// fields, and account ids never do (they are liveplane's ids).
	f := strings.SplitN(string(raw), "|", 5)
	if len(f) != 5 || pickup.QueueSort(f[0]) != sort {
		return queueCursor{}, bad
	}
	c := queueCursor{sort: sort, account: f[3], conn: f[4]}
	if c.depth, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		return queueCursor{}, bad
	}
	if c.seq, err = strconv.ParseInt(f[2], 10, 64); err != nil {
		return queueCursor{}, bad
	}
	return c, nil
}
