package configure

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// FieldManager names meshctl's changes in managedFields.
const FieldManager = "meshctl"

// patchMeshConfig sends a merge patch to the MeshConfig in namespace. With
// dryRun the API server validates and defaults the result without storing it.
func patchMeshConfig(ctx context.Context, dc dynamic.Interface, namespace string, patch []byte, dryRun bool) (*unstructured.Unstructured, error) {
	// Strict: an unknown field inside a JSON value is an error, not silently
	// pruned by the API server.
	opts := metav1.PatchOptions{FieldManager: FieldManager, FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	u, err := dc.Resource(meshconfig.GroupVersionResource).Namespace(namespace).Patch(ctx, meshconfig.ObjectName, types.MergePatchType, patch, opts)
	if err != nil {
		return nil, fmt.Errorf("patching %s/%s in namespace %q: %w", meshconfig.Resource, meshconfig.ObjectName, namespace,
			kube.ExplainForbidden(err, "patch", meshconfig.QualifiedResource, namespace))
	}
	return u, nil
}

// verbed is how a mutating command reports the MeshConfig's change.
func verbed(changed, dryRun bool) string {
	s := "meshconfig/" + meshconfig.ObjectName + " patched"
	if !changed {
		s = "meshconfig/" + meshconfig.ObjectName + " unchanged"
	}
	if dryRun {
		s += " (server dry run)"
	}
	return s
}
