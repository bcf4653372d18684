package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/eventcodec"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
)

// daemonProc is a running `liveplane daemon`.
type daemonProc struct{ *child }

func startDaemon(t *testing.T, cluster, kubeconfig, natsURL, token string, env ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{newChild("daemon", "--cluster", cluster, "--kubeconfig", kubeconfig,
		"--nats", natsURL, "--nats-token", token, "--resync", "1s")}
	d.cmd.Env = append(cleanEnv(), env...)
	d.start(t, "daemon", nil, func() {
		d.kill()
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", cluster, d.log())
		}
	})
	return d
}

func (d *daemonProc) kill() {
	select {
	case <-d.exited:
	default:
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

func nsUID(k kubernetes.Interface, name string) (string, map[string]string) {
	ns, err := k.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return "", nil
	}
	return string(ns.UID), ns.Labels
}

func nsGone(k kubernetes.Interface, name string) bool {
	_, err := k.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

func getAccount(t *testing.T, s *server, id string) *lpv1.Account {
	t.Helper()
	res, err := s.accounts(bearer(s.token)).GetAccount(context.Background(), connect.NewRequest(&lpv1.GetAccountRequest{Id: id}))
	if err != nil {
		t.Fatalf("GetAccount %s: %v", id, err)
	}
	return res.Msg.GetAccount()
}

// statusWatch records every status event the daemons publish.
type statusWatch struct {
	mu  sync.Mutex
	all []provisioning.Status
}

func watchStatuses(t *testing.T, natsURL, token string) *statusWatch {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Token(token))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	w := &statusWatch{}
	_, err = nc.Subscribe("liveplane.events.provisioning.>", func(m *nats.Msg) {
		ev, err := eventcodec.Decode(m.Data)
		if err != nil {
			return
		}
		if s, ok := ev.Data.(provisioning.Status); ok {
			w.mu.Lock()
			w.all = append(w.all, s)
			w.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// degraded reports whether cluster reported account Degraded with reason.
func (w *statusWatch) degraded(cluster, account, reason string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.all {
		if c, ok := s.Cond(provisioning.CondDegraded); ok && c.Status && s.Cluster == cluster && s.AccountID == account && c.Reason == reason {
			return true
		}
	}
	return false
}

func condString(a *lpv1.Account) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:", a.GetName(), a.GetState())
	for _, s := range a.GetClusters() {
		fmt.Fprintf(&b, " [%s gen=%d deleted=%v", s.GetCluster(), s.GetObservedGeneration(), s.GetDeleted())
		for _, c := range s.GetConditions() {
			fmt.Fprintf(&b, " %s=%s(%s)", c.GetType(), c.GetStatus(), c.GetReason())
		}
		b.WriteString("]")
	}
	return b.String()
}

func nsObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// hasQuota reports whether namespace holds liveplane's ResourceQuota (with
// that pods limit, unless pods is "").
func hasQuota(k kubernetes.Interface, namespace, pods string) bool {
	q, err := k.CoreV1().ResourceQuotas(namespace).Get(context.Background(), provisioning.QuotaName, metav1.GetOptions{})
	if err != nil || q.Labels[provisioning.LabelManagedBy] != provisioning.ManagedByValue {
		return false
	}
	p := q.Spec.Hard[corev1.ResourcePods]
	return pods == "" || p.String() == pods
}

// hasBinding reports whether namespace holds liveplane's RoleBinding (of
// group to role, unless they are "").
func hasBinding(k kubernetes.Interface, namespace, group, role string) bool {
	rb, err := k.RbacV1().RoleBindings(namespace).Get(context.Background(), provisioning.RoleBindingName, metav1.GetOptions{})
	if err != nil {
		return false
	}
	return group == "" || (len(rb.Subjects) == 1 && rb.Subjects[0].Name == group && rb.RoleRef.Name == role)
}

// streamCount counts the events stream's messages on subject (wildcards
// allowed).
func streamCount(t *testing.T, natsURL, token, subject string) uint64 {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Token(token))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), "LIVEPLANE_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}
