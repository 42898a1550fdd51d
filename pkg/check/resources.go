package check

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// resource is where a rendered object lives in the API.
type resource struct {
	GVR        schema.GroupVersionResource
	Namespaced bool
}

// resourceFor maps a rendered object's kind to its resource. The chart's own
// CRDs answer for their kinds, since before install the API server does not
// know them; everything else asks the server's discovery.
func (e *Env) resourceFor(obj *unstructured.Unstructured) (resource, error) {
	gvk := obj.GroupVersionKind()
	for _, crd := range e.Chart.CRDs {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		if group != gvk.Group || kind != gvk.Kind {
			continue
		}
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope")
		return resource{GVR: gvk.GroupVersion().WithResource(plural), Namespaced: scope == "Namespaced"}, nil
	}
	m, err := e.Clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return resource{}, fmt.Errorf("the API server does not serve %s: %w", gvk, err)
	}
	return resource{GVR: m.Resource, Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

// allObjects returns the CRDs, then the templates' objects.
func (c *Chart) allObjects() []*unstructured.Unstructured {
	return append(append([]*unstructured.Unstructured{}, c.CRDs...), c.Objects...)
}
