package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/driven/sqlstore"
	"github.com/liveplane/liveplane/internal/drivers/events"
)

// RebuildResult is what `liveplane projections rebuild` reports.
type RebuildResult struct {
	Events   int
	Duration time.Duration
	Equal    bool // the rebuilt read model equals the live one
	Swapped  bool
}

// RebuildProjections folds the whole event stream into fresh tables,
// compares them with the live read model and, when swap is set, replaces
// the live tables. With the embedded bus the data dir is claimed, so serve
// must be stopped; with --nats and PostgreSQL it may run beside serve.
func RebuildProjections(ctx context.Context, cfg config.Serve, swap bool, log *slog.Logger) (RebuildResult, error) {
	var res RebuildResult
	dir, err := claimDataDir(cfg.DataDir)
	if err != nil {
		return res, err
	}
	defer dir.release()
	cfg.NATSListen = "" // in-process only
	bus, err := openBus(ctx, cfg, log)
	if err != nil {
		return res, err
	}
	defer bus.close()
	store, err := sqlstore.Open(ctx, sqlstore.Options{URL: cfg.Database, SQLitePath: cfg.SQLitePath(), Logger: log})
	if err != nil {
		return res, fmt.Errorf("--database: %w", err)
	}
	defer store.Close()
	start := time.Now()
	rb, err := store.RebuildProjection(ctx, ProjectionName)
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	// The stream is folded in memory with the projection's own rules, then
	// each row is written once: one SQL upsert per event would make a
	// rebuild of 100,000 events take half a minute.
	mem := provisioning.NewMemory()
	var last uint64
	err = natsbus.Replay(ctx, bus.js, events.ProvisioningSubjects, false, func(seq uint64, ev domain.Event) error {
		res.Events++
		last = seq
		return provisioning.Fold(ctx, mem, ev)
	})
	if err == nil {
		err = rb.Load(ctx, mem, last)
	}
	if err != nil {
		return res, fmt.Errorf("rebuild: %w", err)
	}
	res.Duration = time.Since(start)
	got, err := rb.Dump(ctx)
	if err != nil {
		return res, err
	}
	live, err := store.Projection(ProjectionName).Dump(ctx)
	if err != nil {
		return res, err
	}
	res.Equal = got == live
	if swap {
		if err := store.SwapRebuilt(ctx); err != nil {
			return res, fmt.Errorf("swap rebuilt tables: %w", err)
		}
		res.Swapped = true
	}
	return res, nil
}
