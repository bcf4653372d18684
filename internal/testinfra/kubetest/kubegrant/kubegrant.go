// Package kubegrant gives a group of a test cluster the permissions a
// liveplane daemon uses, and waits until the apiserver enforces them.
//
// It lives beside kubetest rather than in it because it needs client-go's
// clientset, which kubetest keeps out of the liveplane binary.
package kubegrant

import (
	"context"
	"fmt"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Daemon is what a daemon without escalate or bind may do: manage
// namespaces, quotas and role bindings. Binding a role it does not hold is
// refused by the apiserver's escalation check.
var Daemon = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"namespaces", "resourcequotas"}, Verbs: verbs},
	{APIGroups: []string{rbacv1.GroupName}, Resources: []string{"rolebindings"}, Verbs: verbs},
}

var verbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// settle bounds the wait for the RBAC authorizer to see a new binding.
const settle = 15 * time.Second

// Grant creates the cluster role name with rules, binds it to group, and
// returns once the apiserver allows every verb of every rule to the group.
//
// The authorizer reads roles and bindings from informer caches, so a
// request right after the Create can still be refused; a test that acts as
// the group at once fails now and then without this wait.
func Grant(t testing.TB, admin kubernetes.Interface, name, group string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := t.Context()
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      rules,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubegrant: cluster role %s: %v", name, err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubegrant: cluster role binding %s: %v", name, err)
	}
	deadline := time.Now().Add(settle)
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if err := waitAllowed(ctx, admin, group, g, res, v, deadline); err != nil {
						t.Fatalf("kubegrant: %s: %v", name, err)
					}
				}
			}
		}
	}
}

// waitAllowed asks the apiserver, as the admin, whether a member of group
// may do verb on resource, until it says yes or the deadline passes.
func waitAllowed(ctx context.Context, admin kubernetes.Interface, group, apiGroup, resource, verb string, deadline time.Time) error {
	review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:               "kubegrant-probe",
		Groups:             []string{group},
		ResourceAttributes: &authzv1.ResourceAttributes{Group: apiGroup, Resource: resource, Verb: verb},
	}}
	for {
		got, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		switch {
		case err == nil && got.Status.Allowed:
			return nil
		case time.Now().After(deadline):
			if err == nil {
				err = fmt.Errorf("denied: %s", got.Status.Reason)
			}
			return fmt.Errorf("group %s still may not %s %s after %v: %w", group, verb, resource, settle, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
