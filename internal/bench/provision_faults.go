package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/apimachinery/pkg/types"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/eventcodec"
)

// outagePhase stops the last apiserver for --outage while creating
// --outage-accounts, then starts it again.
func (r *provRun) outagePhase(ctx context.Context) (map[string]any, error) {
	victim := r.clusters[len(r.clusters)-1]
	others := r.clusters[:len(r.clusters)-1]
	r.env.Log.Info("outage phase: stopping an apiserver", "cluster", victim.name, "for", r.p.outage, "accounts", r.p.outageAccounts)
	stopAt := time.Now()
	if err := withHarness(victim.kc.Stop); err != nil {
		return nil, err
	}
	accts := r.createAt(ctx, "o", r.p.outageAccounts, newHistogram())
	if err := sleepCtx(ctx, time.Until(stopAt.Add(r.p.outage))); err != nil {
		return nil, err
	}
	startCall := time.Now()
	if err := withHarness(victim.kc.Start); err != nil {
		return nil, err
	}
	back := time.Now() // its /readyz answered ok (the daemon may get through a little earlier)
	last := r.waitReady(ctx, accts)
	nsOthers, ready, lost := r.figures(accts, others)
	out := map[string]any{
		"cluster_stopped":                   victim.name,
		"stopped_s":                         back.Sub(stopAt).Seconds(),
		"accounts":                          len(accts),
		"others_create_to_namespace":        summarise(nsOthers),
		"create_to_ready":                   summarise(ready),
		"lost":                              lost,
		"apiserver_restart_s":               back.Sub(startCall).Seconds(),
		"converged_after_start_s":           0.0,
		"converged_after_ready_s":           0.0,
		"others_namespaces_missing_at_end":  int64(len(accts)) - nsOthers.TotalCount(),
		"stopped_cluster_namespaces_at_end": r.countNS(accts, victim),
	}
	if lost == 0 && !last.IsZero() {
		out["converged_after_start_s"] = last.Sub(startCall).Seconds()
		out["converged_after_ready_s"] = max(0, last.Sub(back).Seconds())
	}
	r.env.Log.Info("outage phase done", "converged_after_start_s", out["converged_after_start_s"], "lost", lost,
		"others_ns_p99_ms", summarise(nsOthers).P99)
	return out, nil
}

func (r *provRun) countNS(accts []createdAccount, c *provCluster) int {
	n := 0
	for _, a := range accts {
		if s, ok := r.watches[c.name].get("lp-" + a.name); ok && s.ok {
			n++
		}
	}
	return n
}

var failpointSteps = []string{"after-apply", "before-status"}

// killPhase: a random daemon is restarted with a failpoint at a random
// step and count; accounts are created one at a time until it dies; it is
// restarted clean and the time until every account is READY recorded.
func (r *provRun) killPhase(ctx context.Context) (map[string]any, error) {
	r.env.Log.Info("kill phase", "kills", r.p.kills)
	conv := newHistogram()
	byStep := map[string]int{}
	lostTotal, created := 0, 0
	for k := range r.p.kills {
		c := r.clusters[rand.IntN(len(r.clusters))]
		step := failpointSteps[rand.IntN(len(failpointSteps))]
		fp := fmt.Sprintf("daemon-%s@%d", step, 1+rand.IntN(3))
		if err := c.startDaemon(r.spec, "LIVEPLANE_FAILPOINTS="+fp); err != nil {
			return nil, err
		}
		d := c.current()
		var accts []createdAccount
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; !d.exited(); i++ {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("kill %d: failpoint %s did not fire in 30 s; daemon log: %s", k, fp, d.stderr.String())
			}
			accts = append(accts, r.createAt(ctx, fmt.Sprintf("k%d-%d", k, i), 1, newHistogram())...)
			wctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
			waitExit(wctx, d)
			cancel()
		}
		byStep[step]++
		created += len(accts)
		if err := c.startDaemon(r.spec); err != nil {
			return nil, err
		}
		restart := time.Now()
		r.waitReady(ctx, accts)
		if r.poller.pendingCount() > 0 {
			lostTotal += r.poller.pendingCount()
			continue
		}
		recordLatency(conv, time.Since(restart))
	}
	out := map[string]any{
		"kills":                        r.p.kills,
		"by_step":                      byStep,
		"accounts_created":             created,
		"restart_to_all_ready":         summarise(conv),
		"lost":                         lostTotal,
		"converged_within_5s_of_start": conv.Max() <= int64(5*time.Second/time.Microsecond) && lostTotal == 0,
	}
	r.env.Log.Info("kill phase done", "restart_to_all_ready_max_ms", summarise(conv).Max, "lost", lostTotal)
	return out, nil
}

// driftPhase deletes or relabels namespaces of READY accounts out of band
// and times their restoration.
func (r *provRun) driftPhase(ctx context.Context) (map[string]any, error) {
	r.mu.Lock()
	pool := append([]createdAccount(nil), r.created...)
	r.mu.Unlock()
	rand.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	type target struct {
		a       createdAccount
		c       *provCluster
		del     bool
		at      time.Time
		uid     string
		done    time.Duration
		degrade bool
	}
	var ts []*target
	for i := 0; i < len(pool) && len(ts) < r.p.drifts; i++ {
		if _, ok := r.poller.ready(pool[i].id); !ok {
			continue
		}
		c := r.clusters[i%len(r.clusters)]
		ts = append(ts, &target{a: pool[i], c: c, del: len(ts)%2 == 0})
	}
	r.env.Log.Info("drift phase", "namespaces", len(ts))
	for _, t := range ts {
		name := "lp-" + t.a.name
		r.mu.Lock()
		r.drifted[t.c.name+"/"+name] = true
		r.mu.Unlock()
		s, _ := r.watches[t.c.name].get(name)
		t.uid, t.at = s.uid, time.Now()
		var err error
		if t.del {
			err = t.c.k.Delete(ctx, name)
		} else {
			patch := fmt.Sprintf(`{"metadata":{"labels":{%q:"999"}}}`, provisioning.LabelGeneration)
			err = t.c.k.Patch(ctx, name, types.MergePatchType, []byte(patch), "bench-drift")
		}
		if err != nil {
			return nil, fmt.Errorf("drift %s in %s: %w", name, t.c.name, err)
		}
	}
	restored, deleted, relabelled := newHistogram(), newHistogram(), newHistogram()
	// A deleted namespace first terminates (the namespace controller
	// empties it, 5 s at least), then the daemon re-creates it.
	terminated, recreated := newHistogram(), newHistogram()
	deadline := time.Now().Add(r.p.converge)
	for left := len(ts); left > 0 && time.Now().Before(deadline); {
		left = 0
		for _, t := range ts {
			if t.done > 0 {
				continue
			}
			if !t.degrade {
				t.degrade = r.statuses.degradedSince(t.c.name, t.a.id, t.at)
			}
			s, _ := r.watches[t.c.name].get("lp-" + t.a.name)
			ok := s.ok && s.okAt.After(t.at) && (!t.del || s.uid != t.uid)
			if !ok {
				left++
				continue
			}
			t.done = s.okAt.Sub(t.at)
			recordLatency(restored, t.done)
			if t.del {
				recordLatency(deleted, t.done)
				if s.goneAt.After(t.at) {
					recordLatency(terminated, s.goneAt.Sub(t.at))
					recordLatency(recreated, s.okAt.Sub(s.goneAt))
				}
			} else {
				recordLatency(relabelled, t.done)
			}
		}
		if sleepCtx(ctx, 50*time.Millisecond) != nil {
			break
		}
	}
	notRestored, degraded := 0, 0
	for _, t := range ts {
		if t.done == 0 {
			notRestored++
		}
		if t.degrade || r.statuses.degradedSince(t.c.name, t.a.id, t.at) {
			degraded++
		}
	}
	out := map[string]any{
		"namespaces":          len(ts),
		"restored":            summarise(restored),
		"deleted_restored":    summarise(deleted),
		"deleted_terminated":  summarise(terminated),
		"deleted_recreated":   summarise(recreated),
		"relabelled_restored": summarise(relabelled),
		"not_restored":        notRestored,
		"degraded_reported":   degraded,
		"resync":              r.p.resync.String(),
	}
	r.env.Log.Info("drift phase done", "restored_max_ms", summarise(restored).Max, "not_restored", notRestored, "degraded_reported", degraded)
	return out, nil
}

// duplicates counts namespaces re-created or deleted that nobody touched
// out of band: a duplicate or lost side effect of the daemons.
func (r *provRun) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, a := range r.created {
		for _, c := range r.clusters {
			name := "lp-" + a.name
			if r.drifted[c.name+"/"+name] {
				continue
			}
			if s, ok := r.watches[c.name].get(name); ok && (s.uids > 1 || s.deleted) {
				n++
			}
		}
	}
	return n
}

var rebuiltRE = regexp.MustCompile(`rebuilt from (\d+) events in ([^:]+): (.*); swapped`)

// rebuildPhase publishes synthetic status reports, waits for the live
// projection to fold them, stops serve and times `projections rebuild`.
func (r *provRun) rebuildPhase(ctx context.Context) (map[string]any, error) {
	for _, c := range r.clusters {
		c.stopDaemon()
	}
	r.mu.Lock()
	ids := make([]string, 0, len(r.created))
	for _, a := range r.created {
		ids = append(ids, a.id)
	}
	r.mu.Unlock()
	if len(ids) == 0 {
		return nil, fmt.Errorf("rebuild: no accounts")
	}
	js, err := jetstream.New(r.nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, err
	}
	r.env.Log.Info("rebuild phase: publishing synthetic status events", "events", r.p.rebuildEvents)
	pubStart := time.Now()
	base := time.Now()
	for i := range r.p.rebuildEvents {
		at := base.Add(time.Duration(i) * time.Microsecond)
		s := provisioning.Status{Cluster: r.clusters[i%len(r.clusters)].name, AccountID: ids[i%len(ids)], Namespace: "lp-bench",
			ObservedGeneration: 1, Time: at, Conditions: []provisioning.Condition{
				{Type: provisioning.CondApplied, Status: true, Reason: provisioning.ReasonApplied, ObservedGeneration: 1},
				{Type: provisioning.CondReady, Status: true, Reason: provisioning.ReasonActive, ObservedGeneration: 1},
			}}
		ev := domain.Event{ID: domain.NewID(), Type: provisioning.EventStatus, AggregateID: s.AccountID, AggregateVersion: 1, Time: at, Data: s}
		data, err := eventcodec.Encode(ev)
		if err != nil {
			return nil, err
		}
		if _, err := js.PublishAsync(ev.Subject(), data, jetstream.WithMsgID(ev.ID)); err != nil {
			return nil, fmt.Errorf("rebuild: publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	published := time.Since(pubStart)
	foldStart := time.Now()
	for {
		cons, err := js.Consumer(ctx, "LIVEPLANE_EVENTS", "projection-provisioning")
		if err == nil {
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				break
			}
		}
		if sleepCtx(ctx, 100*time.Millisecond) != nil {
			return nil, ctx.Err()
		}
	}
	liveFold := time.Since(foldStart)
	st, err := js.Stream(ctx, "LIVEPLANE_EVENTS")
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.srv.Stop(); err != nil {
		return nil, fmt.Errorf("stop serve: %w", err)
	}
	args := append([]string{"projections", "rebuild", "--data-dir", r.dataDir, "--log-level", "warn"}, strings.Fields(r.p.serveArgs)...)
	cmd := exec.CommandContext(ctx, r.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	out := map[string]any{
		"synthetic_events":     r.p.rebuildEvents,
		"stream_messages":      info.State.Msgs,
		"publish_s":            published.Seconds(),
		"live_fold_catchup_s":  liveFold.Seconds(),
		"rebuild_command_s":    wall.Seconds(),
		"rebuild_command_exit": 0,
	}
	if err != nil {
		out["rebuild_command_exit"] = cmd.ProcessState.ExitCode()
		out["rebuild_stderr"] = strings.TrimSpace(stderr.String())
	}
	if m := rebuiltRE.FindStringSubmatch(stdout.String()); m != nil {
		n, _ := strconv.Atoi(m[1])
		out["events_folded"] = n
		if d, err := time.ParseDuration(m[2]); err == nil {
			out["rebuild_fold_s"] = d.Seconds()
		}
		out["equal_to_live"] = m[3] == "equal to the live read model"
	}
	r.env.Log.Info("rebuild phase done", "output", strings.TrimSpace(stdout.String()), "wall", wall.Round(time.Millisecond))
	return out, nil
}
