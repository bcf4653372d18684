package kubetest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// Namespaces is an observer's client for a cluster's namespaces: list,
// watch, patch and delete, as the provisioning benchmark uses them. It is
// a REST client over a core/v1 scheme rather than client-go's clientset,
// which would link every API group into the liveplane binary (the
// benchmark is part of it).
type Namespaces struct {
	rc     *rest.RESTClient
	params runtime.ParameterCodec
}

// Namespaces returns the admin's namespace client of c.
func (c *Cluster) Namespaces() (*Namespaces, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cfg := rest.CopyConfig(c.RestConfig())
	cfg.APIPath = "/api"
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: namespace client: %w", c, err)
	}
	return &Namespaces{rc: rc, params: runtime.NewParameterCodec(scheme)}, nil
}

// List lists the namespaces matching a label selector.
func (n *Namespaces) List(ctx context.Context, selector string) (*corev1.NamespaceList, error) {
	l := &corev1.NamespaceList{}
	err := n.rc.Get().Resource("namespaces").Param("labelSelector", selector).Do(ctx).Into(l)
	return l, err
}

// Watch watches the namespaces matching a label selector from a list's
// resource version; events carry *corev1.Namespace.
func (n *Namespaces) Watch(ctx context.Context, selector, resourceVersion string) (watch.Interface, error) {
	return n.rc.Get().Resource("namespaces").
		VersionedParams(&metav1.ListOptions{LabelSelector: selector, ResourceVersion: resourceVersion, Watch: true}, n.params).
		Watch(ctx)
}

// Patch patches a namespace as field manager manager.
func (n *Namespaces) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, manager string) error {
	return n.rc.Patch(pt).Resource("namespaces").Name(name).Param("fieldManager", manager).Body(data).Do(ctx).Error()
}

// Delete deletes a namespace.
func (n *Namespaces) Delete(ctx context.Context, name string) error {
	return n.rc.Delete().Resource("namespaces").Name(name).Do(ctx).Error()
}
