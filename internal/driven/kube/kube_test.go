package kube_test

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
	"github.com/liveplane/liveplane/internal/driven/kube"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
	"github.com/liveplane/liveplane/internal/testinfra/kubetest/kubegrant"
)

var labels = map[string]string{provisioning.LabelManagedBy: provisioning.ManagedByValue, provisioning.LabelAccountID: "a1"}

// The adapter against a real kube-apiserver (RBAC on): namespace, quota and
// binding applied by server-side apply, edits out of band taken back, a
// binding to another role replaced, deletes that leave foreign objects
// alone, and an identity RBAC refuses a binding gets the refusal.
func TestAdapterOnRealAPIServer(t *testing.T) {
	kubetest.Binaries(t)
	c := kubetest.APIServer(t, kubetest.Etcd(t), "k1", kubetest.WithUser("limited", "limited"))
	ctx := t.Context()
	admin := kubernetes.NewForConfigOrDie(c.RestConfig())
	kc, err := kube.New(c.RestConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns, err := kc.ApplyNamespace(ctx, "lp-a1", labels)
	if err != nil || !ns.AppliedByUs || !ns.OwnedBy("a1") {
		t.Fatalf("apply namespace: %+v %v", ns, err)
	}

	q := account.Quota{CPU: "500m", Memory: "1Gi", Pods: 10}
	if err := kc.ApplyQuota(ctx, "lp-a1", labels, q); err != nil {
		t.Fatal(err)
	}
	rq, err := admin.CoreV1().ResourceQuotas("lp-a1").Get(ctx, provisioning.QuotaName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rq.Spec.Hard["cpu"]; got.Cmp(resource.MustParse("500m")) != 0 || rq.Labels[provisioning.LabelAccountID] != "a1" {
		t.Fatalf("quota %v labels %v", rq.Spec.Hard, rq.Labels)
	}
	// Out of band: another manager raises the cpu; the next apply takes it back.
	rq.Spec.Hard["cpu"] = resource.MustParse("64")
	if _, err := admin.CoreV1().ResourceQuotas("lp-a1").Update(ctx, rq, metav1.UpdateOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	if err := kc.ApplyQuota(ctx, "lp-a1", labels, q); err != nil {
		t.Fatal(err)
	}
	rq, _ = admin.CoreV1().ResourceQuotas("lp-a1").Get(ctx, provisioning.QuotaName, metav1.GetOptions{})
	if got := rq.Spec.Hard["cpu"]; got.Cmp(resource.MustParse("500m")) != 0 {
		t.Fatalf("edited quota not restored: cpu %v", got.String())
	}
	// Fewer limits: the pods limit this manager applied goes away.
	if err := kc.ApplyQuota(ctx, "lp-a1", labels, account.Quota{CPU: "1"}); err != nil {
		t.Fatal(err)
	}
	rq, _ = admin.CoreV1().ResourceQuotas("lp-a1").Get(ctx, provisioning.QuotaName, metav1.GetOptions{})
	if _, ok := rq.Spec.Hard["pods"]; ok {
		t.Fatalf("pods limit left after it was unset: %v", rq.Spec.Hard)
	}

	if err := kc.ApplyRoleBinding(ctx, "lp-a1", labels, "acme-devs", "edit"); err != nil {
		t.Fatal(err)
	}
	rb, err := admin.RbacV1().RoleBindings("lp-a1").Get(ctx, provisioning.RoleBindingName, metav1.GetOptions{})
	if err != nil || rb.RoleRef.Name != "edit" || len(rb.Subjects) != 1 || rb.Subjects[0].Kind != rbacv1.GroupKind || rb.Subjects[0].Name != "acme-devs" {
		t.Fatalf("rolebinding %+v %v", rb, err)
	}
	// roleRef is immutable: a new role replaces the binding (two calls:
	// the first deletes and reports, the retry creates).
	if err := kc.ApplyRoleBinding(ctx, "lp-a1", labels, "acme-devs", "view"); err == nil {
		t.Fatal("changing the role did not report the replacement")
	}
	if err := kc.ApplyRoleBinding(ctx, "lp-a1", labels, "acme-devs", "view"); err != nil {
		t.Fatal(err)
	}
	if rb, _ := admin.RbacV1().RoleBindings("lp-a1").Get(ctx, provisioning.RoleBindingName, metav1.GetOptions{}); rb.RoleRef.Name != "view" {
		t.Fatalf("role %s, want view", rb.RoleRef.Name)
	}

	if err := kc.DeleteQuota(ctx, "lp-a1"); err != nil {
		t.Fatal(err)
	}
	if err := kc.DeleteRoleBinding(ctx, "lp-a1"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		get(admin.CoreV1().ResourceQuotas("lp-a1").Get(ctx, provisioning.QuotaName, metav1.GetOptions{})),
		get(admin.RbacV1().RoleBindings("lp-a1").Get(ctx, provisioning.RoleBindingName, metav1.GetOptions{})),
	} {
		if !apierrors.IsNotFound(err) {
			t.Fatalf("not deleted: %v", err)
		}
	}
	if err := kc.DeleteQuota(ctx, "lp-a1"); err != nil { // missing: fine
		t.Fatal(err)
	}
	// Somebody else's quota under our name is left alone.
	rq.ObjectMeta = metav1.ObjectMeta{Name: provisioning.QuotaName, Namespace: "lp-a1"}
	if _, err := admin.CoreV1().ResourceQuotas("lp-a1").Create(ctx, rq, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kc.DeleteQuota(ctx, "lp-a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ResourceQuotas("lp-a1").Get(ctx, provisioning.QuotaName, metav1.GetOptions{}); err != nil {
		t.Fatalf("foreign quota deleted: %v", err)
	}

	// RBAC: "limited" may manage namespaces, quotas and bindings, but does
	// not hold what cluster-admin grants, so the apiserver refuses the
	// binding (escalation check) while the quota goes through. ("edit" is
	// empty here: its rules are aggregated by a controller not running.)
	kubegrant.Grant(t, admin, "liveplane-daemon-limited", "limited", kubegrant.Daemon...)
	lc, err := kube.New(c.RestConfigFor("limited"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.ApplyNamespace(ctx, "lp-a2", labels); err != nil {
		t.Fatal(err)
	}
	if err := lc.ApplyQuota(ctx, "lp-a2", labels, q); err != nil {
		t.Fatal(err)
	}
	err = lc.ApplyRoleBinding(ctx, "lp-a2", labels, "acme-devs", "cluster-admin")
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "rolebinding") {
		t.Fatalf("binding cluster-admin without holding it: %v, want forbidden", err)
	}
}

func get[T any](_ T, err error) error { return err }
