package meshconfig

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/meshctl/meshctl/pkg/kube"
)

// QualifiedResource is the resource as RBAC and error messages name it.
const QualifiedResource = Resource + "." + GroupName

// NotInstalledError says that the control-plane namespace holds no mesh:
// its MeshConfig, the mark of an installed control plane, is missing.
//
// +kubebuilder:object:generate=false
type NotInstalledError struct {
	// Mesh is the mesh's name; empty when the caller did not say.
	Mesh string
	// Namespace is the control-plane namespace that was searched.
	Namespace string
}

// Error says what is missing where, and what to run.
func (e *NotInstalledError) Error() string {
	if e.Mesh == "" {
		return fmt.Sprintf("no mesh installed in namespace %q (no MeshConfig %s): run meshctl install", e.Namespace, ObjectName)
	}
	return fmt.Sprintf("no mesh %q installed in namespace %q: run meshctl install", e.Mesh, e.Namespace)
}

// Get reads the MeshConfig of the mesh whose control plane lives in
// namespace. A missing MeshConfig (or a cluster without the CRD) is a
// *NotInstalledError; a refusal by RBAC names the permission.
func Get(ctx context.Context, dc dynamic.Interface, namespace string) (*MeshConfig, error) {
	u, err := dc.Resource(GroupVersionResource).Namespace(namespace).Get(ctx, ObjectName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, &NotInstalledError{Namespace: namespace}
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s in namespace %q: %w", Resource, ObjectName, namespace, kube.ExplainForbidden(err, "get", QualifiedResource, namespace))
	}
	return FromUnstructured(u)
}

// GetMesh is Get for a named mesh: the error for a missing MeshConfig names
// the mesh, and a MeshConfig labelled as another mesh's is refused.
func GetMesh(ctx context.Context, dc dynamic.Interface, mesh, namespace string) (*MeshConfig, error) {
	mc, err := Get(ctx, dc, namespace)
	var ni *NotInstalledError
	if errors.As(err, &ni) {
		ni.Mesh = mesh
		return nil, ni
	}
	if err != nil {
		return nil, err
	}
	if owner := mc.Labels[LabelMeshName]; owner != "" && owner != mesh {
		return nil, fmt.Errorf("namespace %q holds mesh %q, not %q: pass --mesh-name %s, or another --mesh-namespace", namespace, owner, mesh, owner)
	}
	return mc, nil
}

// FromUnstructured converts an object read with a dynamic client.
func FromUnstructured(u *unstructured.Unstructured) (*MeshConfig, error) {
	mc := &MeshConfig{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, mc); err != nil {
		return nil, fmt.Errorf("decoding %s %s/%s: %w", Kind, u.GetNamespace(), u.GetName(), err)
	}
	return mc, nil
}

// ToUnstructured converts mc for a dynamic client, with its apiVersion and
// kind set.
func ToUnstructured(mc *MeshConfig) (*unstructured.Unstructured, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(mc)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetGroupVersionKind(GroupVersionKind)
	return u, nil
}
