package daemon

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/liveplane/liveplane/internal/domain"
	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/natsbus"
)

// gate holds the resync at its "before-resync" step, the first time it
// gets there once armed, until released.
type gate struct {
	armed   atomic.Bool
	reached chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{reached: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) failpoint(step string) {
	if step == "before-resync" && g.armed.CompareAndSwap(true, false) {
		close(g.reached)
		<-g.release
	}
}

// recorder passes events to the real bus and keeps the statuses the bus
// took, in order, as soon as Publish returns.
type recorder struct {
	provisioning.Publisher
	mu  sync.Mutex
	all []provisioning.Status
}

func (r *recorder) Publish(ctx context.Context, ev domain.Event) error {
	if err := r.Publisher.Publish(ctx, ev); err != nil {
		return err
	}
	if s, ok := ev.Data.(provisioning.Status); ok {
		r.mu.Lock()
		r.all = append(r.all, s)
		r.mu.Unlock()
	}
	return nil
}

func (r *recorder) since(i int) []provisioning.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]provisioning.Status(nil), r.all[i:]...)
}

// flaky fails the next namespace read when told to (an apiserver error),
// so that the resync leaves the account to retryFailed.
type flaky struct {
	provisioning.Kube
	failNext atomic.Bool
}

func (f *flaky) Namespace(ctx context.Context, name string) (provisioning.Namespace, bool, error) {
	if f.failNext.CompareAndSwap(true, false) {
		return provisioning.Namespace{}, false, errors.New("injected: apiserver unavailable")
	}
	return f.Kube.Namespace(ctx, name)
}

// A resync works from a copy of the specs taken without the accounts'
// locks. An event that applies a newer generation while the resync holds
// an older copy (here held at its "before-resync" step until the event
// is done) must win: the resync neither reports the newer namespace as
// drift (Degraded NamespaceDrifted) nor puts the older generation's labels
// and quota back. Both ways a resync reconciles are covered: the periodic
// resync (an account its snapshot does not settle) and the retry of an
// account whose resync failed.
func TestResyncDoesNotApplyAnOlderSpecThanAnEvent(t *testing.T) {
	const cluster = "s1"
	r := StartRealCluster(t, cluster)
	admin, js, kc := r.Admin, r.JS, r.KC
	ctx := t.Context()
	for _, retry := range []bool{false, true} {
		name := map[bool]string{false: "resync", true: "retry"}[retry]
		t.Run(name, func(t *testing.T) {
			k := &flaky{Kube: kc}
			rec := &recorder{Publisher: natsbus.NewEventPublisher(js)}
			g := newGate()
			d := New(k, rec, Options{Cluster: cluster, Failpoint: g.failpoint})
			handle := func(a account.Account) error {
				return d.Handle(ctx, domain.Event{Type: account.EventUpdated, AggregateID: a.ID, Data: a})
			}
			v1 := account.Account{ID: "a-" + name, Name: name, State: account.StateProvisioning, Generation: 1,
				Quota: account.Quota{Pods: 5}}
			v2 := v1
			v2.Generation, v2.Quota = 2, account.Quota{Pods: 7}
			nsName := provisioning.NamespaceFor(v1.Name)
			if err := handle(v1); err != nil {
				t.Fatal(err)
			}
			// Out of band, the quota goes: the snapshot no longer settles
			// the account, so the resync reconciles it object by object.
			if err := admin.CoreV1().ResourceQuotas(nsName).Delete(ctx, provisioning.QuotaName, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if retry {
				k.failNext.Store(true)
				d.Resync(ctx)
				d.mu.Lock()
				failed := d.retry[v1.ID]
				d.mu.Unlock()
				if !failed {
					t.Fatal("the resync did not leave the account to be retried")
				}
			}

			// The resync (or its retry) copies generation 1 and is held
			// before it reconciles it.
			g.armed.Store(true)
			done := make(chan struct{})
			go func() {
				defer close(done)
				if retry {
					d.retryFailed(ctx)
				} else {
					d.Resync(ctx)
				}
			}()
			select {
			case <-g.reached:
			case <-time.After(30 * time.Second):
				t.Fatal("the resync never reached before-resync")
			}
			// Meanwhile the event for generation 2 is applied.
			handled := make(chan error, 1)
			go func() { handled <- handle(v2) }()
			select {
			case err := <-handled:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				close(g.release)
				t.Fatal("the event waited for the held resync")
			}
			d.publishPending(ctx) // Ready at 2, so anything published from here on comes after it
			from := len(rec.since(0))
			ns, err := admin.CoreV1().Namespaces().Get(ctx, nsName, metav1.GetOptions{})
			if err != nil || ns.Labels[provisioning.LabelGeneration] != "2" {
				t.Fatalf("the event did not apply generation 2: %v %v", err, ns.GetLabels())
			}
			w, err := admin.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{
				FieldSelector: "metadata.name=" + nsName, ResourceVersion: ns.ResourceVersion})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()

			close(g.release)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the released resync did not finish")
			}
			d.publishPending(ctx)

			// Every state of the namespace since generation 2 was applied,
			// up to a marker annotation written after the resync finished.
			marker := `{"metadata":{"annotations":{"test.liveplane.io/marker":"` + name + `"}}}`
			if _, err := admin.CoreV1().Namespaces().Patch(ctx, nsName, types.MergePatchType, []byte(marker), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			timeout := time.After(30 * time.Second)
			var back []string // generation labels other than 2, in order
		watch:
			for {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						t.Fatal("the namespace watch ended before the marker")
					}
					o, ok := ev.Object.(*corev1.Namespace)
					if !ok {
						t.Fatalf("namespace watch: %s %T", ev.Type, ev.Object)
					}
					if gen := o.Labels[provisioning.LabelGeneration]; gen != "2" {
						back = append(back, gen)
					}
					if o.Annotations["test.liveplane.io/marker"] == name {
						break watch
					}
				case <-timeout:
					t.Fatal("the marker never showed in the namespace watch")
				}
			}
			if len(back) > 0 {
				t.Errorf("after generation 2 was applied, the namespace was labelled with generation %q", back)
			}
			for _, s := range rec.since(from) {
				if c, ok := s.Cond(provisioning.CondDegraded); ok && c.Status {
					t.Errorf("reported Degraded %s at generation %d after generation 2 was applied", c.Reason, s.ObservedGeneration)
				}
				if s.ObservedGeneration < 2 {
					t.Errorf("reported generation %d after generation 2", s.ObservedGeneration)
				}
			}
			q, err := admin.CoreV1().ResourceQuotas(nsName).Get(ctx, provisioning.QuotaName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if gen, pods := q.Labels[provisioning.LabelGeneration], q.Spec.Hard[corev1.ResourcePods]; gen != "2" || pods.Value() != 7 {
				t.Errorf("quota at generation %q with %s pods, want generation 2's 7", gen, pods.String())
			}
			if !d.readyAt(v1.ID, 2) {
				d.mu.Lock()
				t.Errorf("recorded status is not Ready at 2: %+v", d.status[v1.ID])
				d.mu.Unlock()
			}
		})
	}
}
