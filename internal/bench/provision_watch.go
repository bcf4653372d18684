package bench

import (
	"context"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/gen/liveplane/v1/liveplanev1connect"
)

// nsSeen is what a cluster's watch saw of one namespace.
type nsSeen struct {
	first   time.Time // first seen Active with its ownership labels
	uid     string    // current object
	uids    int       // distinct objects seen: > 1 means it was re-created
	deleted bool      // a DELETED event arrived for it
	goneAt  time.Time // when the last DELETED event arrived
	okAt    time.Time // last time it turned Active with the right labels
	ok      bool
}

// nsWatch follows the liveplane namespaces of one cluster, list + watch,
// again after every break (an apiserver outage included).
type nsWatch struct {
	mu   sync.Mutex
	seen map[string]*nsSeen
}

func newNSWatch() *nsWatch { return &nsWatch{seen: map[string]*nsSeen{}} }

func (w *nsWatch) observe(ns *corev1.Namespace, deleted bool, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.seen[ns.Name]
	if s == nil {
		s = &nsSeen{}
		w.seen[ns.Name] = s
	}
	if deleted {
		s.deleted, s.ok, s.goneAt = true, false, at
		return
	}
	if string(ns.UID) != s.uid {
		s.uid = string(ns.UID)
		s.uids++
	}
	good := ns.Status.Phase == corev1.NamespaceActive && ns.DeletionTimestamp == nil &&
		ns.Labels[provisioning.LabelManagedBy] == provisioning.ManagedByValue && ns.Labels[provisioning.LabelAccountID] != "" &&
		ns.Labels[provisioning.LabelGeneration] != "999"
	if good && !s.ok {
		s.okAt = at
		if s.first.IsZero() {
			s.first = at
		}
	}
	s.ok = good
}

func (w *nsWatch) get(name string) (nsSeen, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.seen[name]
	if !ok {
		return nsSeen{}, false
	}
	return *s, true
}

func (c *provCluster) watchNamespaces(ctx context.Context, w *nsWatch) {
	owned := provisioning.LabelManagedBy + "=" + provisioning.ManagedByValue
	for ctx.Err() == nil {
		list, err := c.k.List(ctx, owned)
		if err != nil {
			_ = sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		now := time.Now()
		for i := range list.Items {
			w.observe(&list.Items[i], false, now)
		}
		wi, err := c.k.Watch(ctx, owned, list.ResourceVersion)
		if err != nil {
			_ = sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		for ev := range wi.ResultChan() {
			ns, ok := ev.Object.(*corev1.Namespace)
			if !ok {
				continue
			}
			w.observe(ns, ev.Type == watch.Deleted, time.Now())
		}
		wi.Stop()
	}
}

// readyPoller polls GetAccount for every account not yet READY, in a
// closed loop (as often as the server answers), and records when each
// turned READY at its current generation.
type readyPoller struct {
	api liveplanev1connect.AccountServiceClient

	mu      sync.Mutex
	pending map[string]int64 // id -> generation awaited
	readyAt map[string]time.Time
	states  map[string]lpv1.AccountState
}

func newReadyPoller(api liveplanev1connect.AccountServiceClient) *readyPoller {
	return &readyPoller{api: api, pending: map[string]int64{}, readyAt: map[string]time.Time{}, states: map[string]lpv1.AccountState{}}
}

// await starts watching id until it is READY at generation gen.
func (p *readyPoller) await(id string, gen int64) {
	p.mu.Lock()
	p.pending[id] = gen
	delete(p.readyAt, id)
	p.mu.Unlock()
}

func (p *readyPoller) ready(id string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.readyAt[id]
	return t, ok
}

func (p *readyPoller) state(id string) lpv1.AccountState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.states[id]
}

func (p *readyPoller) pendingCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

func (p *readyPoller) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				p.mu.Lock()
				var ids []string
				i := 0
				for id := range p.pending {
					if i%workers == w {
						ids = append(ids, id)
					}
					i++
				}
				p.mu.Unlock()
				if len(ids) == 0 {
					_ = sleepCtx(ctx, 5*time.Millisecond)
					continue
				}
				for _, id := range ids {
					res, err := p.api.GetAccount(ctx, connect.NewRequest(&lpv1.GetAccountRequest{Id: id}))
					if err != nil {
						continue
					}
					a := res.Msg.GetAccount()
					now := time.Now()
					p.mu.Lock()
					p.states[id] = a.GetState()
					if gen, ok := p.pending[id]; ok && a.GetState() == lpv1.AccountState_ACCOUNT_STATE_READY && a.GetGeneration() >= gen {
						delete(p.pending, id)
						p.readyAt[id] = now
					}
					p.mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
}

// statusLog records the Degraded reports the daemons publish.
type statusLog struct {
	mu       sync.Mutex
	degraded map[string]time.Time // cluster/account -> newest Degraded report
}

func watchStatuses(nc *nats.Conn) (*statusLog, error) {
	l := &statusLog{degraded: map[string]time.Time{}}
	_, err := nc.Subscribe("liveplane.events.provisioning.>", func(m *nats.Msg) {
		ev, err := eventcodec.Decode(m.Data)
		if err != nil {
			return
		}
		s, ok := ev.Data.(provisioning.Status)
		if !ok {
			return
		}
		if c, ok := s.Cond(provisioning.CondDegraded); ok && c.Status {
			l.mu.Lock()
			l.degraded[s.Cluster+"/"+s.AccountID] = time.Now()
			l.mu.Unlock()
		}
	})
	return l, err
}

// degradedSince reports whether cluster reported account Degraded after t.
func (l *statusLog) degradedSince(cluster, account string, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.degraded[cluster+"/"+account].After(t)
}
