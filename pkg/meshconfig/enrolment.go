package meshconfig

import (
	"errors"
	"fmt"
	"slices"
)

// The reasons a namespace may not be enrolled; CheckEnrolment wraps one of
// them, so callers can tell them apart with errors.Is.
var (
	// ErrSystemNamespace: the namespace is one of SystemNamespaces.
	ErrSystemNamespace = errors.New("belongs to Kubernetes itself and cannot join a mesh")
	// ErrControlPlaneNamespace: the namespace holds the mesh's control plane.
	ErrControlPlaneNamespace = errors.New("is the control-plane namespace and cannot join a mesh")
	// ErrOtherMesh: the namespace is enrolled in another mesh and force was
	// not given.
	ErrOtherMesh = errors.New("is enrolled in another mesh")
)

// CheckEnrolment is the one rule for whether namespace name, whose labels
// are labels, may be enrolled in mesh, whose control plane runs in
// meshNamespace. `meshctl namespace add` and `meshctl inject
// --enrol-namespaces` both ask it, so the two can never disagree. A
// namespace of another mesh is refused unless force, because taking it over
// silently would move its pods to another control plane at their next
// restart. The error names the namespace and, where there is one, the fix.
func CheckEnrolment(name string, labels map[string]string, mesh, meshNamespace string, force bool) error {
	switch {
	case slices.Contains(SystemNamespaces(), name):
		return fmt.Errorf("namespace %q: %w", name, ErrSystemNamespace)
	case name == meshNamespace:
		return fmt.Errorf("namespace %q: %w", name, ErrControlPlaneNamespace)
	}
	if owner := labels[LabelMonitoredBy]; owner != "" && owner != mesh && !force {
		return fmt.Errorf("namespace %q: %w %q: pass --force to move it to mesh %q", name, ErrOtherMesh, owner, mesh)
	}
	return nil
}
