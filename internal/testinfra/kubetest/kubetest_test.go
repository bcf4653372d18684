package kubetest_test

import (
	"context"
	"net"
	"net/url"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
)

// Two apiservers on one etcd are two clusters; the controllers really
// finish deletions; a restarted apiserver still has its objects.
func TestClusters(t *testing.T) {
	kubetest.Binaries(t) // build (or skip) before any timing
	start := time.Now()
	etcd := kubetest.Etcd(t)
	t.Logf("etcd start-up: %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	c1 := kubetest.APIServer(t, etcd, "c1", kubetest.WithControllers(), kubetest.WithUser("viewer", "viewers"))
	t.Logf("apiserver c1 + controllers start-up: %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	c2 := kubetest.APIServer(t, etcd, "c2")
	t.Logf("apiserver c2 start-up: %v", time.Since(start).Round(time.Millisecond))

	k1 := kubernetes.NewForConfigOrDie(c1.RestConfig())
	k2 := kubernetes.NewForConfigOrDie(c2.RestConfig())
	ctx := t.Context()

	t.Run("independent clusters", func(t *testing.T) {
		createNamespace(t, k1, "only-in-c1")
		_, err := k2.CoreV1().Namespaces().Get(ctx, "only-in-c1", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("namespace of c1 seen in c2: err = %v", err)
		}
	})

	t.Run("kubeconfig", func(t *testing.T) {
		cfg, err := clientcmd.BuildConfigFromFlags("", c1.Kubeconfig())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Insecure {
			t.Error("kubeconfig skips TLS verification")
		}
		if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Get(ctx, "only-in-c1", metav1.GetOptions{}); err != nil {
			t.Fatalf("get through kubeconfig: %v", err)
		}
	})

	t.Run("restricted user", func(t *testing.T) {
		kv := kubernetes.NewForConfigOrDie(c1.RestConfigFor("viewer"))
		_, err := kv.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "nope"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("viewer created a namespace: err = %v", err)
		}
	})

	t.Run("namespace client", func(t *testing.T) {
		n, err := c2.Namespaces()
		if err != nil {
			t.Fatal(err)
		}
		l, err := n.List(ctx, "bench=ns")
		if err != nil || len(l.Items) != 0 {
			t.Fatalf("list: %v %v", l, err)
		}
		w, err := n.Watch(ctx, "bench=ns", l.ResourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		createNamespace(t, k2, "watched")
		if err := n.Patch(ctx, "watched", types.MergePatchType, []byte(`{"metadata":{"labels":{"bench":"ns"}}}`), "bench"); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.ResultChan():
			if ns, ok := ev.Object.(*corev1.Namespace); !ok || ev.Type != watch.Added || ns.Name != "watched" {
				t.Fatalf("watch event %s %T", ev.Type, ev.Object)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no watch event for the labelled namespace")
		}
		if l, err := n.List(ctx, "bench=ns"); err != nil || len(l.Items) != 1 {
			t.Fatalf("list after patch: %v %v", l, err)
		}
		if err := n.Delete(ctx, "watched"); err != nil {
			t.Fatal(err)
		}
		ns, err := k2.CoreV1().Namespaces().Get(ctx, "watched", metav1.GetOptions{})
		if err == nil && ns.DeletionTimestamp == nil {
			t.Fatal("namespace not being deleted")
		}
	})

	t.Run("restart keeps objects", func(t *testing.T) {
		c1.Stop()
		if _, err := k1.CoreV1().Namespaces().Get(ctx, "only-in-c1", metav1.GetOptions{}); err == nil {
			t.Fatal("stopped apiserver answered")
		}
		start := time.Now()
		c1.Start()
		t.Logf("apiserver restart: %v", time.Since(start).Round(time.Millisecond))
		if _, err := k1.CoreV1().Namespaces().Get(ctx, "only-in-c1", metav1.GetOptions{}); err != nil {
			t.Fatalf("namespace lost across restart: %v", err)
		}
	})

	t.Run("namespace deletion finishes", func(t *testing.T) {
		createNamespace(t, k1, "doomed")
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "content"}}
		if _, err := k1.CoreV1().ConfigMaps("doomed").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := k1.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		eventually(t, 60*time.Second, "namespace doomed gone", func() bool {
			_, err := k1.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		t.Logf("namespace deleted in %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("garbage collector", func(t *testing.T) {
		cms := k1.CoreV1().ConfigMaps("only-in-c1")
		owner, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		dep := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dependent", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID},
		}}}
		if _, err := cms.Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "dependent collected", func() bool {
			_, err := cms.Get(ctx, "dependent", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})
}

// Everything a test started is gone when it ends: no process holds a port.
func TestCleanupFreesPorts(t *testing.T) {
	kubetest.Binaries(t)
	var addrs []string
	t.Run("run", func(t *testing.T) {
		etcd := kubetest.Etcd(t)
		c := kubetest.APIServer(t, etcd, "brief", kubetest.WithControllers())
		for _, s := range []string{etcd, c.URL()} {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatal(err)
			}
			addrs = append(addrs, u.Host)
		}
	})
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after cleanup", a)
		}
	}
}

func createNamespace(t *testing.T, k kubernetes.Interface, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := k.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("not within %v: %s", timeout, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
