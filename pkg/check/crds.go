package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// crdRead is the cluster's copy of one CRD, or why it could not be read.
type crdRead struct {
	crd *unstructured.Unstructured
	err error
}

// clusterCRD is the cluster's copy of one of the chart's CRDs. The checks
// that look at CRDs share one read of each per attempt.
func clusterCRD(ctx context.Context, env *Env, name string) (*unstructured.Unstructured, error) {
	all, _ := env.cache.crds.get(func() (map[string]crdRead, error) {
		reads := make(map[string]crdRead, len(env.Chart.CRDs))
		for _, c := range env.Chart.CRDs {
			crd, err := readCRD(ctx, env, c.GetName())
			reads[c.GetName()] = crdRead{crd, err}
		}
		return reads, nil
	})
	if r, ok := all[name]; ok {
		return r.crd, r.err
	}
	return readCRD(ctx, env, name)
}

func readCRD(ctx context.Context, env *Env, name string) (*unstructured.Unstructured, error) {
	crd, err := env.Clients.Dynamic.Resource(crdGVR()).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("customresourcedefinition %q is missing: run `meshctl install` or `meshctl upgrade`", name)
	}
	if err != nil {
		return nil, fmt.Errorf("customresourcedefinition %q: %w", name, kube.ExplainForbidden(err, "get", "customresourcedefinitions.apiextensions.k8s.io", ""))
	}
	return crd, nil
}

func checkCRDsEstablished(ctx context.Context, env *Env) error {
	var errs []error
	for _, want := range env.Chart.CRDs {
		crd, err := clusterCRD(ctx, env, want.GetName())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok, why := crdCondition(crd, "Established"); !ok {
			errs = append(errs, fmt.Errorf("customresourcedefinition %q is not established: %s", crd.GetName(), why))
		}
	}
	return errors.Join(errs...)
}

// crdCondition reports whether a CRD's condition is True, and otherwise
// why not.
func crdCondition(crd *unstructured.Unstructured, condType string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] != condType {
			continue
		}
		if m["status"] == "True" {
			return true, ""
		}
		return false, fmt.Sprintf("%v: %v", m["reason"], m["message"])
	}
	return false, "the API server has not reported the condition " + condType
}

func checkCRDVersions(ctx context.Context, env *Env) error {
	var errs []error
	for _, want := range env.Chart.CRDs {
		crd, err := clusterCRD(ctx, env, want.GetName())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		served := servedVersions(crd)
		var missing []string
		for _, v := range servedVersions(want) {
			if !slices.Contains(served, v) {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Errorf("customresourcedefinition %q does not serve %s (it serves %s): run `meshctl upgrade`",
				crd.GetName(), strings.Join(missing, ", "), orNone(strings.Join(served, ", "))))
		}
	}
	return errors.Join(errs...)
}

// servedVersions returns the names of the versions a CRD serves.
func servedVersions(crd *unstructured.Unstructured) []string {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var out []string
	for _, v := range vs {
		m, _ := v.(map[string]any)
		if served, _ := m["served"].(bool); served {
			if name, ok := m["name"].(string); ok {
				out = append(out, name)
			}
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func checkMeshConfigExists(ctx context.Context, env *Env) error {
	_, err := env.MeshConfig(ctx)
	return err
}

func checkMeshConfigValid(ctx context.Context, env *Env) error {
	mc, err := env.MeshConfig(ctx)
	if err != nil {
		return err
	}
	errs := meshconfig.Validate(mc)
	// The API server's schema cannot tell an image reference from any other
	// string, and the sidecar's image is what injection most depends on.
	if img := mc.Spec.Sidecar.Image; img != "" {
		if _, err := proxyconfig.ParseImage(img); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "sidecar", "image"), img, "not an image reference: "+errors.Unwrap(err).Error()))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("meshconfig %s/%s: %w", mc.Namespace, mc.Name, errs.ToAggregate())
	}
	if _, err := proxyconfig.New(mc.Spec); err != nil {
		return fmt.Errorf("meshconfig %s/%s: the sidecar cannot be built from it: %w", mc.Namespace, mc.Name, err)
	}
	return nil
}
