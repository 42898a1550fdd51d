package kube

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ForbiddenError is an API request that RBAC refused, restated with what was
// refused, so that the user can ask for exactly that permission. It unwraps
// to the API server's error: apierrors.IsForbidden still holds.
type ForbiddenError struct {
	// Verb is the API verb, such as patch or list.
	Verb string
	// Resource is the plural resource, qualified by its group when it has
	// one, such as namespaces or meshconfigs.config.meshctl.io.
	Resource string
	// Namespace is where the request was made; empty for cluster-scoped
	// resources and requests across all namespaces.
	Namespace string
	// Err is the API server's answer.
	Err error
}

// Error names the verb, the resource and the namespace, then the API
// server's own message (which names the user).
func (e *ForbiddenError) Error() string {
	where := "cluster-wide"
	if e.Namespace != "" {
		where = fmt.Sprintf("in namespace %q", e.Namespace)
	}
	return fmt.Sprintf("forbidden: you may not %s %s %s; ask a cluster administrator for RBAC permission to %s %s (%v)",
		e.Verb, e.Resource, where, e.Verb, e.Resource, e.Err)
}

// Unwrap returns the API server's error.
func (e *ForbiddenError) Unwrap() error { return e.Err }

// ExplainForbidden returns err unchanged unless the API server refused the
// request as forbidden, in which case it returns a *ForbiddenError naming the
// verb, the resource and the namespace.
func ExplainForbidden(err error, verb, resource, namespace string) error {
	if err == nil || !apierrors.IsForbidden(err) {
		return err
	}
	return &ForbiddenError{Verb: verb, Resource: resource, Namespace: namespace, Err: err}
}
