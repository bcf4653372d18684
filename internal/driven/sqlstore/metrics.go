package sqlstore

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	commits   prometheus.Counter
	batchSize prometheus.Histogram
	failures  prometheus.Counter
	// SQLite's checkpointer (checkpoint.go).
	checkpoints prometheus.Counter
	walPages    prometheus.Gauge
	walReuses   prometheus.Counter
	reuseStop   prometheus.Histogram
	// SQLite's twin cache (twincache.go).
	twinHits, twinMisses prometheus.Counter
	twinInvalidations    prometheus.Counter
	twinCacheOn          prometheus.Gauge
	// SQLite's uplink indexer (uplinkindex.go).
	unindexed prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_store_commits_total",
			Help: "Write transactions committed (SQLite: group commits, each holding one or more use-case transactions).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "liveplane_store_group_commit_size",
			Help:    "Use-case transactions per SQLite group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_store_commit_failures_total",
			Help: "Commits that failed; every transaction in the group saw the error.",
		}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_sqlite_checkpoints_total",
			Help: "WAL checkpoints run by the SQLite checkpointer's own connection (the writer only runs the catch-ups counted by liveplane_sqlite_wal_reuses_total).",
		}),
		walPages: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveplane_sqlite_wal_pages",
			Help: "WAL pages not yet copied into the database file after the last checkpoint.",
		}),
		reuseStop: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "liveplane_sqlite_wal_reuse_seconds",
			Help:    "How long each catch-up checkpoint stopped the writer (copying the frames committed since the checkpointer's last pass, and their fsyncs).",
			Buckets: []float64{.0005, .001, .002, .004, .008, .016, .032, .064, .128},
		}),
		twinHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_twin_cache_hits_total",
			Help: "Uplink twin reads answered by the twin cache (SQLite: write-through; PostgreSQL: invalidated by notifications).",
		}),
		twinMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_twin_cache_misses_total",
			Help: "Uplink twin reads that went to the database (first read of a device since start, after a write or, on PostgreSQL, while the cache is off).",
		}),
		twinInvalidations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_twin_cache_invalidations_total",
			Help: "Twins and account defaults dropped from the twin cache because PostgreSQL announced a change to them (by any replica).",
		}),
		twinCacheOn: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveplane_twin_cache_on",
			Help: "1 while the twin cache answers uplink twin reads; on PostgreSQL 0 while its listener cannot show it hears every change (then every read goes to the database).",
		}),
		unindexed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "liveplane_sqlite_uplinks_unindexed",
			Help: "Uplinks stored on SQLite whose entries in the per-device indexes are still to be written (every few seconds, in bulk).",
		}),
		walReuses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "liveplane_sqlite_wal_reuses_total",
			Help: "Catch-up checkpoints on the writer's connection, between two group commits, after which the WAL starts again from its beginning.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.commits, m.batchSize, m.failures, m.checkpoints, m.walPages, m.twinHits, m.twinMisses, m.twinInvalidations, m.twinCacheOn, m.walReuses, m.reuseStop, m.unindexed)
	}
	return m
}
