package sqlstore

import (
	"context"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/device"
)

// UplinkWriter is the device.Writer on this store. Concurrent Writes are
// grouped into batches written with multi-row statements in one transaction
// (on SQLite, one savepoint of the funnel's group commit), so throughput does
// not stop at one transaction per uplink. While the database is unavailable,
// batches go to the spool instead (fsynced before Write returns) and the
// spool is applied, in order, once the database answers again.
type UplinkWriter struct {
	s        *Store
	spool    *Spool // nil: no spool, an unavailable database fails Write
	log      *slog.Logger
	jobs     chan *upJob
	maxBatch int
	flushers int
	down     atomic.Bool // the last batch found the database unavailable
	written  prometheus.Counter
	spooled  prometheus.Counter
	batches  prometheus.Histogram
	commits  prometheus.Histogram // time to commit one batch
}

type upJob struct {
	ctx  context.Context
	rec  device.Record
	done chan error
}

var _ device.Writer = (*UplinkWriter)(nil)

// UplinkWriterOptions configure NewUplinkWriter.
type UplinkWriterOptions struct {
	Spool      *Spool
	MaxBatch   int // default 512
	Flushers   int // concurrent batches; default 1
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (s *Store) NewUplinkWriter(o UplinkWriterOptions) *UplinkWriter {
	w := &UplinkWriter{s: s, spool: o.Spool, log: o.Logger, maxBatch: o.MaxBatch, flushers: o.Flushers}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.maxBatch <= 0 {
		w.maxBatch = 512
	}
	if w.flushers <= 0 {
		// One flusher: while a batch commits, every record that arrives
		// queues for the next one. A second flusher only grabbed a small
		// batch early and waited with it (measured: on SQLite 3.5k -> 8k
		// uplinks/s at 64 devices; on PostgreSQL p99 51 -> 25 ms at 5k/s).
		w.flushers = 1
	}
	w.jobs = make(chan *upJob, w.maxBatch*w.flushers)
	w.written = prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_uplinks_written_total", Help: "Uplink records committed to the database (duplicates included)."})
	w.spooled = prometheus.NewCounter(prometheus.CounterOpts{Name: "liveplane_uplinks_spooled_total", Help: "Uplink records written to the on-disk spool because the database was unavailable."})
	w.batches = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "liveplane_uplink_batch_size", Help: "Uplink records per database batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 11)})
	w.commits = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "liveplane_uplink_commit_seconds",
		Help:    "Time to commit one batch of uplink records, from the statement sent to its commit (uplinks wait this long for their reply).",
		Buckets: prometheus.ExponentialBuckets(0.00025, 2, 12)})
	if o.Registerer != nil {
		o.Registerer.MustRegister(w.written, w.spooled, w.batches, w.commits)
	}
	return w
}

// Write queues r and returns once it is committed or spooled.
func (w *UplinkWriter) Write(ctx context.Context, r device.Record) error {
	j := &upJob{ctx: ctx, rec: r, done: make(chan error, 1)}
	select {
	case w.jobs <- j:
	case <-ctx.Done():
		return classify(ctx.Err())
	}
	return <-j.done
}

// Run flushes batches until ctx ends, then drains what is queued. It also
// replays the spool whenever it holds records and the database answers.
func (w *UplinkWriter) Run(ctx context.Context) error {
	done := make(chan struct{}, w.flushers)
	for i := 0; i < w.flushers; i++ {
		go func() { w.flushLoop(ctx); done <- struct{}{} }()
	}
	if w.spool != nil {
		w.replayLoop(ctx)
	}
	for i := 0; i < w.flushers; i++ {
		<-done
	}
	return nil
}

// Under load the writer lingers: when the records queued make a batch
// smaller than lingerBatch, it waits, up to lingerMax, for the rest to
// arrive at the rate records have been arriving, so that a commit's fixed
// cost (its locks and system calls, the WAL's header and index on SQLite,
// a round trip on PostgreSQL) is shared. Without it, at 5,000 uplinks/s on
// one core batches held two records and commits cost about 55 µs of CPU
// each (BenchmarkInsertUplinks, process CPU per uplink: 67-80 µs in
// batches of 2, 47 µs in batches of 256). Below lingerRate nothing waits:
// the CPU a commit costs is no one's bottleneck there, and the wait would
// be pure latency.
const (
	lingerMax   = 2 * time.Millisecond
	lingerRate  = 2000 // records/s
	lingerBatch = 16
)

// lingerFor is how long a batch of n records waits for more when they
// arrive at rate records/s.
func lingerFor(rate float64, n int) time.Duration {
	if rate < lingerRate || n >= lingerBatch {
		return 0
	}
	return min(lingerMax, time.Duration(float64(lingerBatch-n)/rate*float64(time.Second)))
}

func (w *UplinkWriter) flushLoop(ctx context.Context) {
	batch := make([]*upJob, 0, w.maxBatch)
	var (
		rate float64 // records/s, a moving average over batches
		prev time.Time
	)
	for {
		var j *upJob
		select {
		case j = <-w.jobs:
		case <-ctx.Done():
			select { // drain: writers already queued still get an answer
			case j = <-w.jobs:
			default:
				return
			}
		}
		batch = append(batch[:0], j)
		now := time.Now()
		// Let the other runnable goroutines (requests being decoded, say)
		// queue their records first: with few cores, draining at once
		// would mostly find one record and commit batches of one.
		runtime.Gosched()
		batch = w.fill(batch)
		if d := lingerFor(rate, len(batch)); d > 0 && ctx.Err() == nil {
			time.Sleep(d)
			batch = w.fill(batch)
		}
		if !prev.IsZero() {
			if d := now.Sub(prev).Seconds(); d > 0 {
				rate = 0.8*rate + 0.2*float64(len(batch))/d
			}
		}
		prev = now
		w.flush(batch)
	}
}

// fill adds the records already queued to batch, up to maxBatch.
func (w *UplinkWriter) fill(batch []*upJob) []*upJob {
	for len(batch) < w.maxBatch {
		select {
		case j := <-w.jobs:
			batch = append(batch, j)
		default:
			return batch
		}
	}
	return batch
}

func (w *UplinkWriter) flush(batch []*upJob) {
	recs := make([]device.Record, 0, len(batch))
	live := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- classify(err)
			continue
		}
		recs = append(recs, j.rec)
		live = append(live, j)
	}
	if len(recs) == 0 {
		return
	}
	err := w.store(recs)
	for _, j := range live {
		j.done <- err
	}
}

// store commits recs, or spools them while the database is unavailable.
// Once a batch found the database down, later batches go straight to the
// spool (no connect timeout per uplink) until a replay succeeds.
func (w *UplinkWriter) store(recs []device.Record) error {
	if w.spool == nil || !w.down.Load() {
		err := w.commit(context.Background(), recs)
		if err == nil || w.spool == nil || !domain.Is(err, domain.CodeUnavailable) {
			return err
		}
		if !w.down.Swap(true) {
			w.log.Warn("database unavailable: spooling uplinks", "err", err)
		}
	}
	if err := w.spool.Append(recs); err != nil {
		return err
	}
	w.spooled.Add(float64(len(recs)))
	return nil
}

func (w *UplinkWriter) commit(ctx context.Context, recs []device.Record) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	err := w.s.writeUplinks(ctx, recs)
	if err == nil {
		w.commits.Observe(time.Since(start).Seconds())
		w.written.Add(float64(len(recs)))
		w.batches.Observe(float64(len(recs)))
	}
	return err
}

// replayLoop applies the spool, oldest segment first, every second while it
// holds records; a segment is deleted only after its records committed.
func (w *UplinkWriter) replayLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if w.spool.Depth() > 0 {
			err := w.spool.Replay(func(recs []device.Record) error { return w.commit(ctx, recs) })
			switch {
			case err == nil:
				if w.down.Swap(false) {
					w.log.Info("database back: spool applied")
				}
			case ctx.Err() == nil:
				w.log.Debug("spool replay deferred", "err", err)
			}
		} else if w.down.Load() && w.s.Ping(ctx) == nil {
			w.down.Store(false)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
