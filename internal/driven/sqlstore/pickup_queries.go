package sqlstore

import (
	"iter"
	"math/bits"
	"strings"
)

// The group commit's statements, for n rows each: their builders, and
// their texts for each chunk size (1, 2, 4, ..., 64 rows; see chunks),
// built once: they key the prepared statement cache, and building one per
// add was 8 % of the bytes serve allocated at 10,000 adds/s.
const (
	textUpsertAdd = iota
	textUpsertConns
	textInsertMessages
	textBumpConns
	textRemoveByIDs
	textKinds
)

var groupBuilders = [textKinds]func(int) string{buildUpsertAdd, buildUpsertConns, buildInsertMessages, buildBumpConns, buildRemoveByIDs}

var groupTexts = func() (t [7][textKinds]string) {
	for i := range t {
		for kind, build := range groupBuilders {
			t[i][kind] = build(1 << i)
		}
	}
	return t
}()

// groupText returns statement kind for n rows, cached when n is a chunk
// size.
func groupText(kind, n int) string {
	if n > 0 && n <= 64 && n&(n-1) == 0 {
		return groupTexts[bits.TrailingZeros(uint(n))][kind]
	}
	return groupBuilders[kind](n)
}

// The per-queue statements: its row read (on PostgreSQL with FOR UPDATE
// appended), created when missing, and its counters moved.
const (
	findConnQuery = "SELECT " + connCols + " FROM pickup_connections WHERE account_id = ? AND connection_id = ?"
	lockConnQuery = `INSERT INTO pickup_connections (account_id, connection_id) VALUES (?, ?)
		ON CONFLICT (account_id, connection_id) DO UPDATE SET queued = pickup_connections.queued
		RETURNING ` + connCols
	bumpQuery = `UPDATE pickup_connections SET queued = queued + ?, queued_bytes = queued_bytes + ?,
		pending = pending + ? WHERE account_id = ? AND connection_id = ?`
)

// removeByIDsQuery deletes n ids of a queue (account, connection, the ids,
// then the holder) that are pending or in flight to the holder.
func removeByIDsQuery(n int) string { return groupText(textRemoveByIDs, n) }

func buildRemoveByIDs(n int) string {
	return "DELETE FROM pickup_messages WHERE account_id = ? AND connection_id = ? AND id IN (" +
		strings.TrimSuffix(strings.Repeat("?,", n), ",") + ") AND (deadline = 0 OR holder = ?) RETURNING size, deadline"
}

func upsertAddQuery(n int) string      { return groupText(textUpsertAdd, n) }
func upsertConnsQuery(n int) string    { return groupText(textUpsertConns, n) }
func insertMessagesQuery(n int) string { return groupText(textInsertMessages, n) }
func bumpConnsQuery(n int) string      { return groupText(textBumpConns, n) }

// buildUpsertAdd adds (queued, bytes, pending) to n queues, creating them,
// and returns each row and whether its lease is live (a session held by an
// instance whose heartbeat is current: the two trailing parameters are now).
// A live queue's pending count does not grow: its messages go in flight.
func buildUpsertAdd(n int) string {
	const live = `(pickup_connections.session_id != '' AND EXISTS (SELECT 1 FROM pickup_instances i
		WHERE i.id = pickup_connections.instance AND i.expires_at > ?))`
	return `INSERT INTO pickup_connections (account_id, connection_id, queued, queued_bytes, pending) VALUES ` +
		placeholders(n, "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT") +
		` ON CONFLICT (account_id, connection_id) DO UPDATE SET queued = pickup_connections.queued + excluded.queued,
		queued_bytes = pickup_connections.queued_bytes + excluded.queued_bytes,
		pending = pickup_connections.pending + CASE WHEN ` + live + ` THEN 0 ELSE excluded.pending END
		RETURNING ` + connCols + `, ` + strings.ReplaceAll(live, "pickup_connections.", "")
}

func buildInsertMessages(n int) string {
	return `INSERT INTO pickup_messages (id, account_id, connection_id, dids, payload, size, received_at, epoch, holder, deadline)
		VALUES ` + placeholders(n, cols(10)...) + ` RETURNING seq, id`
}

// The group commit's statements, for n rows each.
func buildUpsertConns(n int) string {
	return `INSERT INTO pickup_connections (account_id, connection_id) VALUES ` + placeholders(n, cols(2)...) +
		` ON CONFLICT (account_id, connection_id) DO UPDATE SET queued = pickup_connections.queued RETURNING ` + connCols
}

func buildBumpConns(n int) string {
	return `UPDATE pickup_connections SET queued = queued + u.column3, queued_bytes = queued_bytes + u.column4,
		pending = pending + u.column5
		FROM (VALUES ` + placeholders(n, "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT") + `) AS u
		WHERE account_id = u.column1 AND connection_id = u.column2`
}

// chunks splits n rows into statements of 64, 32, ..., 1 rows, so that a
// handful of statement texts (each prepared once) cover every batch size.
// It yields (offset, rows) pairs.
func chunks(n int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		off := 0
		for size := 64; size > 0 && off < n; {
			if n-off < size {
				size /= 2
				continue
			}
			if !yield(off, size) {
				return
			}
			off += size
		}
	}
}
