// Package kube is the Kubernetes adapter of the daemon: client-go with
// server-side apply (apply configurations, field manager "liveplane").
package kube

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

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
