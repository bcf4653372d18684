package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/liveplane/liveplane/internal/domain/provisioning"
	lpv1 "github.com/liveplane/liveplane/internal/gen/liveplane/v1"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
)

// Accounts across two real clusters (apiservers on one etcd, controllers
// running): create -> namespaces -> READY; drift restored with Degraded
// reported; an apiserver outage delays only its cluster; a daemon killed
// between apply and ack, and before its status, loses and duplicates
// nothing; delete -> namespaces really gone -> Deleted; the read model
// rebuilt from the stream equals the live one.
func TestProvisionAcrossClusters(t *testing.T) {
	kubetest.Binaries(t)
	etcd := kubetest.Etcd(t)
	clusters := []*kubetest.Cluster{
		kubetest.APIServer(t, etcd, "c1", kubetest.WithControllers()),
		kubetest.APIServer(t, etcd, "c2", kubetest.WithControllers()),
	}
	kube := map[string]kubernetes.Interface{}
	for _, c := range clusters {
		kube[c.Name()] = kubernetes.NewForConfigOrDie(c.RestConfig())
	}
	natsAddr, token := freeTCP(t), "e2e-nats-token"
	natsURL := "nats://" + natsAddr
	dataDir := t.TempDir()
	srv := startServe(t, dataDir, nil, "--nats-listen", natsAddr, "--nats-token", token)
	watch := watchStatuses(t, natsURL, token)
	daemons := map[string]*daemonProc{}
	for _, c := range clusters {
		daemons[c.Name()] = startDaemon(t, c.Name(), c.Kubeconfig(), natsURL, token)
	}
	ctx := context.Background()
	api := srv.accounts(bearer(srv.token))
	create := func(name string) string {
		t.Helper()
		res, err := api.CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{Name: name}))
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		if got := res.Msg.GetAccount().GetState(); got != lpv1.AccountState_ACCOUNT_STATE_PROVISIONING {
			t.Fatalf("create returned %v, want PROVISIONING", got)
		}
		return res.Msg.GetAccount().GetId()
	}
	ready := func(id string) bool {
		return getAccount(t, srv, id).GetState() == lpv1.AccountState_ACCOUNT_STATE_READY
	}
	inAll := func(name string) bool {
		for _, k := range kube {
			if uid, _ := nsUID(k, provisioning.NamespaceFor(name)); uid == "" {
				return false
			}
		}
		return true
	}

	// Invalid names are refused before anything is written.
	if _, err := api.CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{Name: "Bad_Name"})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("bad name: err = %v, want invalid_argument", err)
	}

	// Create -> namespace in every cluster -> READY, with latencies.
	const n = 10
	ids, names := make([]string, n), make([]string, n)
	var nsLat, readyLat []time.Duration
	for i := range n {
		names[i] = fmt.Sprintf("acct-%d", i)
		start := time.Now()
		ids[i] = create(names[i])
		nsLat = append(nsLat, time.Since(start)+waitFor(t, 20*time.Second, names[i]+" namespaces", func() bool { return inAll(names[i]) }))
		readyLat = append(readyLat, time.Since(start)+waitFor(t, 20*time.Second, names[i]+" READY", func() bool { return ready(ids[i]) }))
	}
	sort.Slice(nsLat, func(i, j int) bool { return nsLat[i] < nsLat[j] })
	t.Logf("create -> namespaces in 2 clusters: max %v; -> READY: max %v (sequential, n=%d)", nsLat[n-1], slicesMax(readyLat), n)
	a := getAccount(t, srv, ids[0])
	if len(a.GetClusters()) != 2 {
		t.Fatalf("per-cluster status: %s", condString(a))
	}
	uids := map[string]string{}
	for c, k := range kube {
		for _, nm := range names {
			uid, labels := nsUID(k, provisioning.NamespaceFor(nm))
			uids[c+"/"+nm] = uid
			if labels[provisioning.LabelManagedBy] != "liveplane" || labels[provisioning.LabelGeneration] != "1" {
				t.Fatalf("%s/%s labels %v", c, nm, labels)
			}
		}
	}

	// Quota and group: a ResourceQuota and a RoleBinding in every cluster,
	// restored when deleted out of band, removed when unset.
	qres, err := api.CreateAccount(ctx, connect.NewRequest(&lpv1.CreateAccountRequest{Name: "quota",
		Quota: &lpv1.ResourceQuota{Cpu: "2", Memory: "1Gi", Pods: 20}, Group: "quota-devs"}))
	if err != nil {
		t.Fatal(err)
	}
	quotaID := qres.Msg.GetAccount().GetId()
	waitFor(t, 20*time.Second, "quota READY", func() bool { return ready(quotaID) })
	for c, k := range kube {
		if !hasQuota(k, "lp-quota", "20") || !hasBinding(k, "lp-quota", "quota-devs", "edit") {
			t.Fatalf("%s: quota or binding missing in lp-quota", c)
		}
	}
	if err := kube["c1"].CoreV1().ResourceQuotas("lp-quota").Delete(ctx, provisioning.QuotaName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kube["c2"].RbacV1().RoleBindings("lp-quota").Delete(ctx, provisioning.RoleBindingName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, 20*time.Second, "quota and binding restored", func() bool {
		return hasQuota(kube["c1"], "lp-quota", "20") && hasBinding(kube["c2"], "lp-quota", "quota-devs", "edit")
	})
	t.Logf("quota and binding deleted out of band restored in %v", took)
	noGroup := ""
	up, err := api.UpdateAccount(ctx, connect.NewRequest(&lpv1.UpdateAccountRequest{Id: quotaID, Quota: &lpv1.ResourceQuota{}, Group: &noGroup}))
	if err != nil || up.Msg.GetAccount().GetGeneration() != 2 {
		t.Fatalf("update: %v", err)
	}
	waitFor(t, 20*time.Second, "quota and binding removed, READY at generation 2", func() bool {
		for _, k := range kube {
			if hasQuota(k, "lp-quota", "") || hasBinding(k, "lp-quota", "", "") {
				return false
			}
		}
		a := getAccount(t, srv, quotaID)
		return a.GetState() == lpv1.AccountState_ACCOUNT_STATE_READY && a.GetGeneration() == 2
	})

	// A namespace owned by something else is not taken over.
	if _, err := kube["c1"].CoreV1().Namespaces().Create(ctx, nsObject("lp-taken"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	takenID := create("taken")
	waitFor(t, 20*time.Second, "taken DEGRADED", func() bool {
		return getAccount(t, srv, takenID).GetState() == lpv1.AccountState_ACCOUNT_STATE_DEGRADED
	})
	if _, labels := nsUID(kube["c1"], "lp-taken"); labels[provisioning.LabelAccountID] != "" {
		t.Fatalf("foreign namespace was taken over: %v", labels)
	}

	// Drift: delete one namespace, relabel another; both come back, and
	// Degraded was reported meanwhile.
	if err := kube["c1"].CoreV1().Namespaces().Delete(ctx, "lp-acct-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := kube["c2"].CoreV1().Namespaces().Get(ctx, "lp-acct-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels[provisioning.LabelGeneration] = "999"
	if _, err := kube["c2"].CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, 30*time.Second, "drift repaired", func() bool {
		u1, _ := nsUID(kube["c1"], "lp-acct-1")
		_, l2 := nsUID(kube["c2"], "lp-acct-2")
		return u1 != "" && u1 != uids["c1/acct-1"] && l2[provisioning.LabelGeneration] == "1"
	})
	t.Logf("drift repaired in %v", took)
	uids["c1/acct-1"], _ = nsUID(kube["c1"], "lp-acct-1")
	waitFor(t, 5*time.Second, "Degraded reported", func() bool {
		return watch.degraded("c1", ids[1], provisioning.ReasonMissing) && watch.degraded("c2", ids[2], provisioning.ReasonDrifted)
	})

	// Apiserver c2 down: c1 keeps provisioning; c2 converges after Start.
	clusters[1].Stop()
	var during []string
	for i := range 5 {
		nm := fmt.Sprintf("outage-%d", i)
		during = append(during, create(nm))
		waitFor(t, 10*time.Second, nm+" in c1", func() bool { u, _ := nsUID(kube["c1"], "lp-"+nm); return u != "" })
	}
	clusters[1].Start()
	took = waitFor(t, 20*time.Second, "c2 converged after restart", func() bool {
		for _, id := range during {
			if !ready(id) {
				return false
			}
		}
		return true
	})
	t.Logf("after the apiserver came back, READY in %v", took)

	// Crash the c1 daemon after apply before ack, then before a status;
	// restart it; nothing lost, no namespace recreated.
	for _, fp := range []string{"daemon-after-apply@1", "daemon-before-status@" + fmt.Sprint(1+rand.IntN(3))} {
		daemons["c1"].kill()
		daemons["c1"] = startDaemon(t, "c1", clusters[0].Kubeconfig(), natsURL, token, "LIVEPLANE_FAILPOINTS="+fp)
		nm := "crash-" + strings.SplitN(strings.TrimPrefix(fp, "daemon-"), "@", 2)[0]
		id := create(nm)
		select {
		case <-daemons["c1"].exited:
		case <-time.After(20 * time.Second):
			t.Fatalf("failpoint %s did not fire:\n%s", fp, daemons["c1"].log())
		}
		restart := time.Now()
		daemons["c1"] = startDaemon(t, "c1", clusters[0].Kubeconfig(), natsURL, token)
		waitFor(t, 5*time.Second, nm+" READY within 5s of restart", func() bool { return ready(id) })
		t.Logf("%s: converged %v after restart", fp, time.Since(restart).Round(time.Millisecond))
	}
	for _, nm := range names {
		if uid, _ := nsUID(kube["c1"], "lp-"+nm); uid != uids["c1/"+nm] {
			t.Fatalf("namespace lp-%s in c1 was recreated or lost across daemon crashes (uid %q, was %q)", nm, uid, uids["c1/"+nm])
		}
	}

	// Delete: namespaces really gone in both clusters, reported Deleted,
	// then the account is finalised (DELETED) and its name free again.
	if _, err := api.DeleteAccount(ctx, connect.NewRequest(&lpv1.DeleteAccountRequest{Id: ids[0]})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "lp-acct-0 gone everywhere, reported Deleted, account DELETED", func() bool {
		a := getAccount(t, srv, ids[0])
		done := len(a.GetClusters()) == 2 && a.GetState() == lpv1.AccountState_ACCOUNT_STATE_DELETED
		for _, s := range a.GetClusters() {
			done = done && s.GetDeleted()
		}
		if done && (!nsGone(kube["c1"], "lp-acct-0") || !nsGone(kube["c2"], "lp-acct-0")) {
			t.Fatalf("DELETED while a namespace still exists: %s", condString(a))
		}
		return done
	})
	reused := create(names[0])
	waitFor(t, 30*time.Second, "a finalised name used again, READY", func() bool { return ready(reused) })

	// Heartbeats live in their bucket, not in the events stream.
	if n := streamCount(t, natsURL, token, "liveplane.events.cluster.*.heartbeat"); n != 0 {
		t.Fatalf("%d heartbeat events in the stream", n)
	}
	if n := streamCount(t, natsURL, token, "liveplane.events.cluster.*.registered"); n < 2 {
		t.Fatalf("%d registrations in the stream, want one per daemon start", n)
	}

	// Rebuild the read model from the stream: equal to the live one.
	for _, d := range daemons {
		d.kill()
	}
	time.Sleep(time.Second) // the projection folds the last status events
	if code := srv.stop(); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	out, errOut, code := cli(t, nil, "projections", "rebuild", "--data-dir", dataDir)
	if code != 0 || !strings.Contains(out, "equal to the live read model") {
		t.Fatalf("rebuild: exit %d\n%s%s", code, out, errOut)
	}
	t.Log(strings.TrimSpace(out))
}

func slicesMax(d []time.Duration) time.Duration {
	m := time.Duration(0)
	for _, x := range d {
		m = max(m, x)
	}
	return m
}
