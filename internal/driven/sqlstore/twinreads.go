package sqlstore

import (
	"context"
	"database/sql"
	"runtime"
	"sync"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

// twinReads batches the per-uplink twin reads on PostgreSQL, the read-side
// twin of the uplink writer's group commit: every uplink asks for its
// device's twin and account defaults, and one query per round trip answers
// all the uplinks that asked meanwhile (WHERE device_id = ANY($1)). Each
// answer is as fresh as a query of its own made at that moment, so there is
// no cache to invalidate across replicas. One request at a time goes to the
// database; those that arrive while it runs make up the next batch.
//
// Measured (bench coap, 5,000 uplinks/s, 1,000 devices, 25 s, the same
// fresh PostgreSQL, back to back): one query per uplink p50 76 ms, p99 521
// ms; batched p50 4.8 ms, p99 88 ms (before reconciliation: 3.1 / 95 ms).
type twinReads struct {
	db   *sql.DB
	reqs chan *twinReq
	stop chan struct{}
	once sync.Once
	done sync.WaitGroup
}

type twinReq struct {
	ctx context.Context
	id  string
	res chan twinRes
}

type twinRes struct {
	t   device.Twin
	def device.Defaults
	err error
}

const twinReadBatch = 256

func newTwinReads(db *sql.DB) *twinReads {
	r := &twinReads{db: db, reqs: make(chan *twinReq, 4*twinReadBatch), stop: make(chan struct{})}
	r.done.Add(1)
	go r.loop()
	return r
}

func (r *twinReads) close() {
	r.once.Do(func() { close(r.stop) })
	r.done.Wait()
}

func (r *twinReads) get(ctx context.Context, id string) (device.Twin, device.Defaults, error) {
	q := &twinReq{ctx: ctx, id: id, res: make(chan twinRes, 1)}
	select {
	case r.reqs <- q:
	case <-ctx.Done():
		return device.Twin{}, device.Defaults{}, classify(ctx.Err())
	case <-r.stop:
		return device.Twin{}, device.Defaults{}, domain.Errorf(domain.CodeUnavailable, "sqlstore.TwinConfig", "store closed")
	}
	select {
	case res := <-q.res:
		return res.t, res.def, res.err
	case <-ctx.Done():
		return device.Twin{}, device.Defaults{}, classify(ctx.Err())
	}
}

func (r *twinReads) loop() {
	defer r.done.Done()
	batch := make([]*twinReq, 0, twinReadBatch)
	// A device asked for twice in one batch (a retransmission racing its
	// original) waits for the next one: each answer carries maps of its
	// own, which the caller goes on to modify.
	var later []*twinReq
	seen := make(map[string]bool, twinReadBatch)
	for {
		batch, later = append(batch[:0], later...), later[:0]
		if len(batch) == 0 {
			select {
			case q := <-r.reqs:
				batch = append(batch, q)
			case <-r.stop:
				return
			}
			runtime.Gosched() // let the uplinks being decoded queue theirs
		}
		clear(seen)
		unique := batch[:0]
		for _, q := range batch {
			if seen[q.id] {
				later = append(later, q)
				continue
			}
			seen[q.id] = true
			unique = append(unique, q)
		}
		batch = unique
	fill:
		for len(batch) < twinReadBatch {
			select {
			case q := <-r.reqs:
				if seen[q.id] {
					later = append(later, q)
					continue
				}
				seen[q.id] = true
				batch = append(batch, q)
			default:
				break fill
			}
		}
		r.run(batch)
	}
}

// run answers a batch with one query; a failure answers every request in it.
func (r *twinReads) run(batch []*twinReq) {
	ids := make([]string, 0, len(batch))
	for _, q := range batch {
		ids = append(ids, q.id)
	}
	found, err := r.query(context.Background(), ids)
	for _, q := range batch {
		switch res, ok := found[q.id]; {
		case err != nil:
			q.res <- twinRes{err: err}
		case ok:
			q.res <- res
		default:
			q.res <- twinRes{err: domain.Errorf(domain.CodeNotFound, "sqlstore.TwinConfig", "no twin for device %s", q.id)}
		}
	}
}

func (r *twinReads) query(ctx context.Context, ids []string) (map[string]twinRes, error) {
	rows, err := r.db.QueryContext(ctx, twinConfigQuery+"t.device_id = ANY($1)", ids)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := make(map[string]twinRes, len(ids))
	for rows.Next() {
		t, def, err := scanTwinConfig(rows)
		if err != nil {
			return nil, err
		}
		out[t.DeviceID] = twinRes{t: t, def: def}
	}
	return out, classify(rows.Err())
}
