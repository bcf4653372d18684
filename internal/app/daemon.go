package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/liveplane/liveplane/internal/config"
	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/kube"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
	"github.com/liveplane/liveplane/internal/drivers/daemon"
	"github.com/liveplane/liveplane/internal/drivers/events"
)

// accountSubjects are the events a daemon acts on.
var accountSubjects = []string{natsbus.EventsSubjectPrefix + "account.>"}

// daemonBackoff doubles up to 5 s; with an unbounded MaxDeliver an effect is
// retried until the cluster takes it, never dead-lettered.
var daemonBackoff = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
	800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second}

// daemonWorkers is how many accounts a daemon reconciles at once.
const daemonWorkers = 8

// Daemon runs `liveplane daemon` for one cluster until ctx ends.
func Daemon(ctx context.Context, cfg config.Daemon, version string, log *slog.Logger) error {
	rc, err := kube.Config(cfg.Kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	kc, err := kube.New(rc)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	nc, err := natsbus.Connect(ctx, natsURL(cfg.NATS, cfg.NATSToken), "liveplane-daemon-"+cfg.Cluster, log)
	if err != nil {
		return fmt.Errorf("--nats: %w", err)
	}
	defer func() { _ = nc.Drain() }()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("--nats: %w", err)
	}
	kv, err := natsbus.EnsureHeartbeats(ctx, js)
	if err != nil {
		return fmt.Errorf("--nats: %w", err)
	}
	d := daemon.New(kc, natsbus.NewEventPublisher(js), daemon.Options{
		Cluster: cfg.Cluster, Version: version, Resync: cfg.Resync, GroupRole: cfg.GroupRole,
		Beats: natsbus.NewHeartbeats(kv), Logger: log, Failpoint: daemonFailpoint(),
	})
	// Every account's newest spec, so the resync knows what should exist
	// even for events acknowledged before a restart.
	seeded := 0
	err = natsbus.Replay(ctx, js, accountSubjects, true, func(_ uint64, ev domain.Event) error {
		if a, ok := ev.Data.(account.Account); ok {
			d.Seed(a)
			seeded++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load accounts from the bus: %w", err)
	}
	// What this cluster last reported per account (what the control plane
	// holds), so drift made while the daemon was down is reported before
	// it is repaired, and an account never provisioned here is not taken
	// for drift.
	reports := 0
	err = natsbus.ReplayStatuses(ctx, js, cfg.Cluster, func(s provisioning.Status) {
		d.SeedStatus(s)
		reports++
	})
	if err != nil {
		return fmt.Errorf("load status reports from the bus: %w", err)
	}
	log.Info("liveplane daemon started", "cluster", cfg.Cluster, "api", rc.Host, "accounts", seeded, "status_reports", reports)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return d.Run(gctx) })
	g.Go(func() error {
		return events.Consumer{
			Stream: natsbus.EventsStream, Durable: "daemon-" + cfg.Cluster, FilterSubjects: accountSubjects,
			MaxDeliver: 1 << 30, Backoff: daemonBackoff, AckWait: 30 * time.Second, Logger: log,
			// Accounts reconcile side by side; one account's events in order.
			Workers: daemonWorkers, Prefetch: 4 * daemonWorkers,
		}.Run(gctx, js, d.Handle)
	})
	err = g.Wait()
	log.Info("daemon stopped")
	return err
}

// natsURL puts the token of serve's embedded listener into each URL.
func natsURL(urls, token string) string {
	if token == "" {
		return urls
	}
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err == nil && u.User == nil {
			u.User = url.User(token)
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// daemonFailpoint reads LIVEPLANE_FAILPOINTS entries "daemon-<step>@N": the
// process kills itself the Nth time it reaches step (after-apply,
// before-status, before-resync). Crash tests pick N at random.
func daemonFailpoint() func(string) {
	at := map[string]int{}
	for _, f := range strings.Split(os.Getenv("LIVEPLANE_FAILPOINTS"), ",") {
		name, n, ok := strings.Cut(f, "@")
		if !ok || !strings.HasPrefix(name, "daemon-") {
			continue
		}
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			at[strings.TrimPrefix(name, "daemon-")] = v
		}
	}
	if len(at) == 0 {
		return nil
	}
	var mu sync.Mutex
	seen := map[string]int{}
	return func(step string) {
		mu.Lock()
		defer mu.Unlock()
		seen[step]++
		if n, ok := at[step]; ok && seen[step] == n {
			die()
		}
	}
}
