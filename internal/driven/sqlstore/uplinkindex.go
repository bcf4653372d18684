package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"time"
)

// On SQLite an uplink's rows are appended in arrival order (seq) and the
// per-device indexes, activity_keys and activity_times, follow in bulk
// (migration 0009 says why). Until a row is indexed, the writer holds its
// idempotency key in memory (uplinkTail), and reads add it from a scan of
// the rows above activity_indexed.through. The SQLite store has one writer
// process, so that memory is the whole truth about the unindexed rows: it
// is rebuilt from them when the store opens.

// Indexing runs every indexEvery, or sooner once indexBacklog rows wait.
// Fewer, larger rounds put more of a device's entries on one leaf (at
// 5,000 uplinks/s from 1,000 devices, a round of 4 s writes about 20 entries
// per device and leaf); each round costs the reads a scan of at most that
// many rows.
const (
	indexEvery   = 4 * time.Second
	indexBacklog = 20_000
	// indexChunk rows are indexed per turn of the funnel, so that the
	// uplink batches committed between two turns wait about 2 ms at most.
	indexChunk = 256
)

// indexRoundMax bounds the rows one round reads into memory: after the
// indexer could not run for a while (a full disk, say) the backlog is
// worked off in rounds of this size, not in one.
var indexRoundMax = 100_000

type upKey struct {
	device      string
	boot, count uint32
}

type upSeq struct {
	key upKey
	seq int64
}

// uplinkTail is the writer's view of the unindexed rows.
type uplinkTail struct {
	mu       sync.Mutex
	keys     map[upKey]int64 // key -> seq: every row above through, and keys found indexed already (until pruned)
	order    []upSeq         // the same, in seq order
	next     int64           // the next seq to hand out
	resolved int64           // every seq <= resolved is committed or rolled back
	through  int64           // every row with seq <= through is indexed
	deletes  int             // device deletions so far; an indexing round that saw one starts again
}

// loadUplinkTail reads activity_indexed and the keys of the rows above it,
// on the writer's connection before the funnel starts.
func loadUplinkTail(ctx context.Context, c *sql.Conn) (*uplinkTail, error) {
	t := &uplinkTail{keys: map[upKey]int64{}}
	var maxSeq sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT through, (SELECT max(seq) FROM activity) FROM activity_indexed").Scan(&t.through, &maxSeq); err != nil {
		return nil, classify(err)
	}
	rows, err := c.QueryContext(ctx, "SELECT seq, device_id, boot_count, uplink_count FROM activity WHERE seq > ? ORDER BY seq", t.through)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		var e upSeq
		if err := rows.Scan(&e.seq, &e.key.device, &e.key.boot, &e.key.count); err != nil {
			return nil, classify(err)
		}
		t.keys[e.key] = e.seq
		t.order = append(t.order, e)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	// A seq is never reused, not even after the newest rows were deleted
	// with their device: everything at or below through counts as indexed.
	t.next = max(maxSeq.Int64, t.through) + 1
	t.resolved = t.next - 1
	return t, nil
}

// claim returns k's seq if k is unindexed and new: ok false means a row
// with k is stored or being stored already.
func (t *uplinkTail) claim(k upKey) (seq int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, dup := t.keys[k]; dup {
		return 0, false
	}
	seq = t.next
	t.next++
	t.keys[k] = seq
	t.order = append(t.order, upSeq{k, seq})
	return seq, true
}

// settle runs after the transaction that claimed ks ended: rolled back, its
// keys are free again. Either way every seq handed out so far is resolved,
// for the funnel commits in order.
func (t *uplinkTail) settle(ks []upSeq, committed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !committed {
		for _, e := range ks {
			if t.keys[e.key] == e.seq {
				delete(t.keys, e.key)
			}
		}
	}
	t.resolved = t.next - 1
}

// span is what an indexing round covers: the rows above through that are
// resolved, and the deletions seen so far.
func (t *uplinkTail) span() (from, to int64, deletes int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.through, t.resolved, t.deletes
}

// indexed records that every row up to through is in the indexes.
func (t *uplinkTail) indexed(through int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.through = max(t.through, through)
	i := 0
	for ; i < len(t.order) && t.order[i].seq <= t.through; i++ {
		if e := t.order[i]; t.keys[e.key] == e.seq {
			delete(t.keys, e.key)
		}
	}
	t.order = slices.Delete(t.order, 0, i)
}

func (t *uplinkTail) deleted() {
	t.mu.Lock()
	t.deletes++
	t.mu.Unlock()
}

func (t *uplinkTail) deletesSeen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deletes
}

// pending is how many rows wait for their index entries.
func (t *uplinkTail) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.order)
}

// uplinkIndexer adds the rows above through to the indexes, in rounds.
type uplinkIndexer struct {
	s      *Store
	tail   *uplinkTail
	cancel context.CancelFunc
	done   chan struct{}
}

func startUplinkIndexer(s *Store, tail *uplinkTail) *uplinkIndexer {
	ctx, cancel := context.WithCancel(context.Background())
	x := &uplinkIndexer{s: s, tail: tail, cancel: cancel, done: make(chan struct{})}
	go x.loop(ctx)
	return x
}

func (x *uplinkIndexer) close() {
	x.cancel()
	<-x.done
}

func (x *uplinkIndexer) loop(ctx context.Context) {
	defer close(x.done)
	tick := time.NewTicker(indexEvery / 8)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n := x.tail.pending()
		x.s.metrics.unindexed.Set(float64(n))
		if n == 0 || n < indexBacklog && time.Since(last) < indexEvery {
			continue
		}
		last = time.Now()
		if err := x.round(ctx); err != nil && ctx.Err() == nil {
			x.s.log.Warn("indexing uplinks", "component", "sqlstore", "err", err)
		}
	}
}

// indexRow is one uplink's entries in both indexes.
type indexRow struct {
	device      string
	at          int64
	boot, count int64
	seq         int64
}

// round indexes every resolved row above through: it reads them on a
// reader, sorts them by device and writes them in chunks, each a turn of the
// funnel; the last chunk also moves through. A round interrupted (by a
// crash, or a failed chunk) leaves through where it was, and the next one
// writes the same entries again over the ones already there.
func (x *uplinkIndexer) round(ctx context.Context) error {
	from, to, deletes := x.tail.span()
	if to <= from {
		return nil
	}
	rows, err := x.s.rdb.QueryContext(ctx, "SELECT device_id, received_at, boot_count, uplink_count, seq FROM activity "+
		"WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", from, to, indexRoundMax)
	if err != nil {
		return classify(err)
	}
	var ix []indexRow
	for rows.Next() {
		var r indexRow
		if err := rows.Scan(&r.device, &r.at, &r.boot, &r.count, &r.seq); err != nil {
			rows.Close()
			return classify(err)
		}
		ix = append(ix, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	if len(ix) == indexRoundMax {
		to = ix[len(ix)-1].seq // the rest is the next round's
	}
	slices.SortFunc(ix, func(a, b indexRow) int {
		return cmp.Or(cmp.Compare(a.device, b.device), cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq))
	})
	// At least one turn, even with no rows left (all deleted): it moves through.
	for start := 0; start < len(ix) || start == 0; start += indexChunk {
		chunk := ix[start:min(start+indexChunk, len(ix))]
		last := start+indexChunk >= len(ix)
		err := x.s.update(ctx, func(t *Tx) error {
			if x.tail.deletesSeen() != deletes {
				// A device was deleted since the rows were read: its
				// entries must not come back. Start again.
				return errIndexRestart
			}
			if err := t.insertIndexEntries(ctx, chunk); err != nil {
				return err
			}
			if !last {
				return nil
			}
			_, err := t.exec(ctx, "UPDATE activity_indexed SET through = ? WHERE id = 1", to)
			return err
		})
		if errors.Is(err, errIndexRestart) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	x.tail.indexed(to)
	return nil
}

var errIndexRestart = errors.New("a device was deleted: indexing starts again")

func (t *Tx) insertIndexEntries(ctx context.Context, ix []indexRow) error {
	u := t.s.uplinkStmts
	keys := make([]any, 0, len(ix)*4)
	times := make([]any, 0, len(ix)*5)
	for _, r := range ix {
		keys = append(keys, r.device, r.boot, r.count, r.seq)
		times = append(times, r.device, r.at, r.boot, r.count, r.seq)
	}
	if err := u.keys.exec(ctx, t, keys); err != nil {
		return err
	}
	return u.times.exec(ctx, t, times)
}

// deleteUplinksSQLite deletes a device's uplinks: the indexed ones found
// through activity_keys, the newest by a scan of the rows above through.
// An indexing round that read the device's rows before this started again
// (uplinkTail.deletes: counted after the commit, before the funnel's next
// turn, so any chunk of a round that read them sees it), so their entries
// do not come back.
func (t *Tx) deleteUplinksSQLite(ctx context.Context, id string) error {
	t.afterEnd(func(bool) { t.s.uplinkTail.deleted() })
	const seqs = `SELECT seq FROM activity_keys WHERE device_id = ?1
		UNION ALL SELECT seq FROM activity WHERE seq > (SELECT through FROM activity_indexed) AND device_id = ?1`
	for _, q := range []string{
		"DELETE FROM sensor_data WHERE seq IN (" + seqs + ")",
		"DELETE FROM activity WHERE seq IN (" + seqs + ")",
		"DELETE FROM activity_times WHERE device_id = ?1",
		"DELETE FROM activity_keys WHERE device_id = ?1",
	} {
		if _, err := t.exec(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}
