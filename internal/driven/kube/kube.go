// Package kube is the Kubernetes adapter of the daemon: client-go with
// server-side apply (apply configurations, field manager "liveplane").
package kube

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applyrbacv1 "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// Client is one cluster.
type Client struct{ k kubernetes.Interface }

var _ provisioning.Kube = (*Client)(nil)

// Config loads a kubeconfig file, or the in-cluster service account when
// path is empty.
func Config(path string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if path == "" {
		cfg, err = rest.InClusterConfig()
	} else {
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	cfg.UserAgent = "liveplane-daemon"
	return cfg, nil
}

func New(cfg *rest.Config) (*Client, error) {
	k, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &Client{k: k}, nil
}

func toNamespace(ns *corev1.Namespace) provisioning.Namespace {
	ours := false
	for _, mf := range ns.ManagedFields {
		if mf.Manager == provisioning.FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply {
			ours = true
		}
	}
	return provisioning.Namespace{AppliedByUs: ours,
		Name: ns.Name, UID: string(ns.UID), Labels: ns.Labels,
		Terminating: ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating,
	}
}

func (c *Client) Namespace(ctx context.Context, name string) (provisioning.Namespace, bool, error) {
	ns, err := c.k.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return provisioning.Namespace{}, false, nil
	}
	if err != nil {
		return provisioning.Namespace{}, false, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return toNamespace(ns), true, nil
}

// ApplyNamespace forces: the daemon checked ownership first, and a label
// edited out of band (another field manager) must come back.
func (c *Client) ApplyNamespace(ctx context.Context, name string, labels map[string]string) (provisioning.Namespace, error) {
	ns, err := c.k.CoreV1().Namespaces().Apply(ctx, applycorev1.Namespace(name).WithLabels(labels),
		metav1.ApplyOptions{FieldManager: provisioning.FieldManager, Force: true})
	if err != nil {
		return provisioning.Namespace{}, fmt.Errorf("apply namespace %s: %w", name, err)
	}
	return toNamespace(ns), nil
}

func (c *Client) DeleteNamespace(ctx context.Context, name string) error {
	err := c.k.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

func hard(q account.Quota) (corev1.ResourceList, error) {
	h := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: q.CPU, corev1.ResourceMemory: q.Memory} {
		if v == "" {
			continue
		}
		qty, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("quota %s %q: %w", name, v, err)
		}
		h[name] = qty
	}
	if q.Pods > 0 {
		h[corev1.ResourcePods] = *resource.NewQuantity(q.Pods, resource.DecimalSI)
	}
	return h, nil
}

func (c *Client) ApplyQuota(ctx context.Context, namespace string, labels map[string]string, q account.Quota) error {
	h, err := hard(q)
	if err != nil {
		return err
	}
	_, err = c.k.CoreV1().ResourceQuotas(namespace).Apply(ctx,
		applycorev1.ResourceQuota(provisioning.QuotaName, namespace).WithLabels(labels).
			WithSpec(applycorev1.ResourceQuotaSpec().WithHard(h)),
		metav1.ApplyOptions{FieldManager: provisioning.FieldManager, Force: true})
	if err != nil {
		return fmt.Errorf("apply resourcequota %s/%s: %w", namespace, provisioning.QuotaName, err)
	}
	return nil
}

func (c *Client) ApplyRoleBinding(ctx context.Context, namespace string, labels map[string]string, group, role string) error {
	_, err := c.k.RbacV1().RoleBindings(namespace).Apply(ctx,
		applyrbacv1.RoleBinding(provisioning.RoleBindingName, namespace).WithLabels(labels).
			WithRoleRef(applyrbacv1.RoleRef().WithAPIGroup(rbacv1.GroupName).WithKind("ClusterRole").WithName(role)).
			WithSubjects(applyrbacv1.Subject().WithAPIGroup(rbacv1.GroupName).WithKind(rbacv1.GroupKind).WithName(group)),
		metav1.ApplyOptions{FieldManager: provisioning.FieldManager, Force: true})
	if apierrors.IsInvalid(err) {
		// roleRef is immutable: a binding to another role is replaced.
		if derr := c.DeleteRoleBinding(ctx, namespace); derr != nil {
			return derr
		}
		return fmt.Errorf("apply rolebinding %s/%s: replaced a binding to another role: %w", namespace, provisioning.RoleBindingName, err)
	}
	if err != nil {
		return fmt.Errorf("apply rolebinding %s/%s: %w", namespace, provisioning.RoleBindingName, err)
	}
	return nil
}

func owned(m metav1.Object) bool {
	return m.GetLabels()[provisioning.LabelManagedBy] == provisioning.ManagedByValue
}

func (c *Client) DeleteQuota(ctx context.Context, namespace string) error {
	q, err := c.k.CoreV1().ResourceQuotas(namespace).Get(ctx, provisioning.QuotaName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get resourcequota %s/%s: %w", namespace, provisioning.QuotaName, err)
	}
	if !owned(q) {
		return nil
	}
	return deleteErr("resourcequota", namespace, c.k.CoreV1().ResourceQuotas(namespace).Delete(ctx, q.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &q.UID}}))
}

func (c *Client) DeleteRoleBinding(ctx context.Context, namespace string) error {
	rb, err := c.k.RbacV1().RoleBindings(namespace).Get(ctx, provisioning.RoleBindingName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get rolebinding %s/%s: %w", namespace, provisioning.RoleBindingName, err)
	}
	if !owned(rb) {
		return nil
	}
	return deleteErr("rolebinding", namespace, c.k.RbacV1().RoleBindings(namespace).Delete(ctx, rb.Name,
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rb.UID}}))
}

func deleteErr(kind, namespace string, err error) error {
	if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or replaced by another object meanwhile
	}
	return fmt.Errorf("delete %s in %s: %w", kind, namespace, err)
}

// specFields are the managed-fields keys that make an object's content.
var specFields = []string{`"f:spec"`, `"f:subjects"`, `"f:roleRef"`}

func editedByOthers(mf []metav1.ManagedFieldsEntry) bool {
	for _, e := range mf {
		if e.Manager == provisioning.FieldManager || e.FieldsV1 == nil {
			continue
		}
		for _, f := range specFields {
			if strings.Contains(string(e.FieldsV1.Raw), f) {
				return true
			}
		}
	}
	return false
}

func (c *Client) Snapshot(ctx context.Context) (provisioning.Snapshot, error) {
	sel := metav1.ListOptions{LabelSelector: provisioning.LabelManagedBy + "=" + provisioning.ManagedByValue}
	snap := provisioning.Snapshot{Namespaces: map[string]provisioning.Namespace{},
		Quotas: map[string]provisioning.ObjectState{}, Bindings: map[string]provisioning.ObjectState{}}
	nss, err := c.k.CoreV1().Namespaces().List(ctx, sel)
	if err != nil {
		return snap, fmt.Errorf("list namespaces: %w", err)
	}
	for i := range nss.Items {
		snap.Namespaces[nss.Items[i].Name] = toNamespace(&nss.Items[i])
	}
	qs, err := c.k.CoreV1().ResourceQuotas("").List(ctx, sel)
	if err != nil {
		return snap, fmt.Errorf("list resourcequotas: %w", err)
	}
	for _, q := range qs.Items {
		if q.Name == provisioning.QuotaName {
			snap.Quotas[q.Namespace] = provisioning.ObjectState{Labels: q.Labels, EditedByOthers: editedByOthers(q.ManagedFields)}
		}
	}
	rbs, err := c.k.RbacV1().RoleBindings("").List(ctx, sel)
	if err != nil {
		return snap, fmt.Errorf("list rolebindings: %w", err)
	}
	for _, rb := range rbs.Items {
		if rb.Name == provisioning.RoleBindingName {
			snap.Bindings[rb.Namespace] = provisioning.ObjectState{Labels: rb.Labels, EditedByOthers: editedByOthers(rb.ManagedFields)}
		}
	}
	return snap, nil
}
