// Package kube is the Kubernetes adapter of the daemon: server-side apply
// (field manager "liveplane") of a namespace, its quota and its role
// binding, through client-go's REST client.
//
// It deliberately does not use client-go's generated clientset: importing
// it links every API group of Kubernetes and registers them all at start,
// in every liveplane process, serve included (one binary). That alone was
// about 10 MiB of serve's idle RSS. The adapter needs two groups and a
// handful of verbs, so it builds a scheme of core/v1 and rbac/v1 and talks
// to the two group versions with a REST client each. Apply bodies are
// written as the minimal objects server-side apply expects (the fields we
// own and nothing else), which is what client-go's apply configurations
// produce.
package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/liveplane/liveplane/internal/domain/account"
	"github.com/liveplane/liveplane/internal/domain/provisioning"
)

// The scheme is built on first use, not at package initialisation: serve
// links this package (one binary) but never talks to Kubernetes.
var (
	schemeOnce sync.Once
	codecs     serializer.CodecFactory
)

func buildScheme() {
	scheme := runtime.NewScheme()
	// Both register metav1's options and Status for their group version.
	utilruntime.Must(corev1.AddToScheme(scheme))
	utilruntime.Must(rbacv1.AddToScheme(scheme))
	codecs = serializer.NewCodecFactory(scheme)
}

// Client is one cluster.
type Client struct {
	core *rest.RESTClient // /api/v1
	rbac *rest.RESTClient // /apis/rbac.authorization.k8s.io/v1
}

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
	schemeOnce.Do(buildScheme)
	core, err := restClient(cfg, "/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	rbac, err := restClient(cfg, "/apis", rbacv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &Client{core: core, rbac: rbac}, nil
}

func restClient(cfg *rest.Config, apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.APIPath = apiPath
	c.GroupVersion = &gv
	c.NegotiatedSerializer = codecs.WithoutConversion()
	c.ContentType = runtime.ContentTypeJSON
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", gv, err)
	}
	return rc, nil
}

// applyObject is the body of a server-side apply: the fields liveplane
// owns, nothing else (no empty status, no null timestamps).
type applyObject struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Metadata   applyMeta        `json:"metadata"`
	Spec       *applyQuotaSpec  `json:"spec,omitempty"`
	RoleRef    *rbacv1.RoleRef  `json:"roleRef,omitempty"`
	Subjects   []rbacv1.Subject `json:"subjects,omitempty"`
}

type applyMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

type applyQuotaSpec struct {
	Hard corev1.ResourceList `json:"hard"`
}

// apply sends obj as a forced server-side apply: the daemon checked
// ownership first, and a field edited out of band (another field manager)
// must come back.
func apply(ctx context.Context, rc *rest.RESTClient, res string, obj applyObject, into runtime.Object) error {
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return rc.Patch(types.ApplyPatchType).
		NamespaceIfScoped(obj.Metadata.Namespace, obj.Metadata.Namespace != "").
		Resource(res).Name(obj.Metadata.Name).
		Param("fieldManager", provisioning.FieldManager).Param("force", "true").
		Body(body).Do(ctx).Into(into)
}

func get(ctx context.Context, rc *rest.RESTClient, res, namespace, name string, into runtime.Object) error {
	return rc.Get().NamespaceIfScoped(namespace, namespace != "").Resource(res).Name(name).Do(ctx).Into(into)
}

func list(ctx context.Context, rc *rest.RESTClient, res, selector string, into runtime.Object) error {
	return rc.Get().Resource(res).Param("labelSelector", selector).Do(ctx).Into(into)
}

func del(ctx context.Context, rc *rest.RESTClient, res, namespace, name string, opts *metav1.DeleteOptions) error {
	return rc.Delete().NamespaceIfScoped(namespace, namespace != "").Resource(res).Name(name).Body(opts).Do(ctx).Error()
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
	ns := &corev1.Namespace{}
	err := get(ctx, c.core, "namespaces", "", name, ns)
	if apierrors.IsNotFound(err) {
		return provisioning.Namespace{}, false, nil
	}
	if err != nil {
		return provisioning.Namespace{}, false, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return toNamespace(ns), true, nil
}

func (c *Client) ApplyNamespace(ctx context.Context, name string, labels map[string]string) (provisioning.Namespace, error) {
	ns := &corev1.Namespace{}
	err := apply(ctx, c.core, "namespaces", applyObject{APIVersion: "v1", Kind: "Namespace",
		Metadata: applyMeta{Name: name, Labels: labels}}, ns)
	if err != nil {
		return provisioning.Namespace{}, fmt.Errorf("apply namespace %s: %w", name, err)
	}
	return toNamespace(ns), nil
}

func (c *Client) DeleteNamespace(ctx context.Context, name string) error {
	err := del(ctx, c.core, "namespaces", "", name, &metav1.DeleteOptions{})
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
	err = apply(ctx, c.core, "resourcequotas", applyObject{APIVersion: "v1", Kind: "ResourceQuota",
		Metadata: applyMeta{Name: provisioning.QuotaName, Namespace: namespace, Labels: labels},
		Spec:     &applyQuotaSpec{Hard: h}}, &corev1.ResourceQuota{})
	if err != nil {
		return fmt.Errorf("apply resourcequota %s/%s: %w", namespace, provisioning.QuotaName, err)
	}
	return nil
}

func (c *Client) ApplyRoleBinding(ctx context.Context, namespace string, labels map[string]string, group, role string) error {
	err := apply(ctx, c.rbac, "rolebindings", applyObject{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "RoleBinding",
		Metadata: applyMeta{Name: provisioning.RoleBindingName, Namespace: namespace, Labels: labels},
		RoleRef:  &rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}}}, &rbacv1.RoleBinding{})
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
	q := &corev1.ResourceQuota{}
	err := get(ctx, c.core, "resourcequotas", namespace, provisioning.QuotaName, q)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get resourcequota %s/%s: %w", namespace, provisioning.QuotaName, err)
	}
	if !owned(q) {
		return nil
	}
	return deleteErr("resourcequota", namespace, del(ctx, c.core, "resourcequotas", namespace, q.Name,
		&metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &q.UID}}))
}

func (c *Client) DeleteRoleBinding(ctx context.Context, namespace string) error {
	rb := &rbacv1.RoleBinding{}
	err := get(ctx, c.rbac, "rolebindings", namespace, provisioning.RoleBindingName, rb)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get rolebinding %s/%s: %w", namespace, provisioning.RoleBindingName, err)
	}
	if !owned(rb) {
		return nil
	}
	return deleteErr("rolebinding", namespace, del(ctx, c.rbac, "rolebindings", namespace, rb.Name,
		&metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rb.UID}}))
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
	sel := provisioning.LabelManagedBy + "=" + provisioning.ManagedByValue
	snap := provisioning.Snapshot{Namespaces: map[string]provisioning.Namespace{},
		Quotas: map[string]provisioning.ObjectState{}, Bindings: map[string]provisioning.ObjectState{}}
	nss := &corev1.NamespaceList{}
	if err := list(ctx, c.core, "namespaces", sel, nss); err != nil {
		return snap, fmt.Errorf("list namespaces: %w", err)
	}
	for i := range nss.Items {
		snap.Namespaces[nss.Items[i].Name] = toNamespace(&nss.Items[i])
	}
	qs := &corev1.ResourceQuotaList{}
	if err := list(ctx, c.core, "resourcequotas", sel, qs); err != nil {
		return snap, fmt.Errorf("list resourcequotas: %w", err)
	}
	for _, q := range qs.Items {
		if q.Name == provisioning.QuotaName {
			snap.Quotas[q.Namespace] = provisioning.ObjectState{Labels: q.Labels, EditedByOthers: editedByOthers(q.ManagedFields)}
		}
	}
	rbs := &rbacv1.RoleBindingList{}
	if err := list(ctx, c.rbac, "rolebindings", sel, rbs); err != nil {
		return snap, fmt.Errorf("list rolebindings: %w", err)
	}
	for _, rb := range rbs.Items {
		if rb.Name == provisioning.RoleBindingName {
			snap.Bindings[rb.Namespace] = provisioning.ObjectState{Labels: rb.Labels, EditedByOthers: editedByOthers(rb.ManagedFields)}
		}
	}
	return snap, nil
}
