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

// NamespaceInjection is what a namespace's metadata says about sidecar
// injection: the one reading of the enrolment label and annotation, which
// the webhook, `meshctl namespace`, `meshctl check` and the chart's
// selectors (through pkg/install's tests) share.
type NamespaceInjection struct {
	// Mesh is the mesh the namespace is enrolled in (LabelMonitoredBy);
	// "" when none.
	Mesh string
	// Setting is the injection setting in force: the value of
	// LabelSidecarInjection when the label is there, else the value of
	// AnnotationSidecarInjection; "" when neither is set. Only
	// InjectionEnabled injects.
	Setting string
	// LabelMissing: the annotation is there but not the label, as in a
	// namespace enrolled by a meshctl that wrote the annotation only. Its
	// pods are injected as before (the webhook's selector matches a
	// namespace without the label, and the annotation decides), but the
	// webhook is also called for it when injection is disabled; enrolling
	// the namespace again adds the label.
	LabelMissing bool
	// Conflict: the label and the annotation are both set and differ (the
	// annotation was edited by hand); the label decides.
	Conflict bool
}

// InjectionOf reads a namespace's labels and annotations. The label wins
// over the annotation because it is what the API server's selector sees:
// where the label says disabled the webhook is never called, whatever the
// annotation says, so the rule must say the same.
func InjectionOf(labels, annotations map[string]string) NamespaceInjection {
	n := NamespaceInjection{Mesh: labels[LabelMonitoredBy]}
	label, hasLabel := labels[LabelSidecarInjection]
	annotation, hasAnnotation := annotations[AnnotationSidecarInjection]
	switch {
	case hasLabel:
		n.Setting = label
		n.Conflict = hasAnnotation && annotation != label
	case hasAnnotation:
		n.Setting = annotation
		n.LabelMissing = n.Mesh != ""
	}
	return n
}

// Injects reports whether the webhook of mesh injects new pods of the
// namespace.
func (n NamespaceInjection) Injects(mesh string) bool {
	return n.Mesh != "" && n.Mesh == mesh && n.Setting == InjectionEnabled
}

// EnrolmentMetadata is what enrols a namespace in mesh with injection
// (InjectionEnabled or InjectionDisabled): the labels and annotations that
// `meshctl namespace add` and `meshctl inject --enrol-namespaces` write.
func EnrolmentMetadata(mesh, injection string) (labels, annotations map[string]string) {
	return map[string]string{LabelMonitoredBy: mesh, LabelSidecarInjection: injection},
		map[string]string{AnnotationSidecarInjection: injection}
}

// EnrolmentKeys are the label and annotation keys EnrolmentMetadata
// writes, which unenrolment removes.
func EnrolmentKeys() (labels, annotations []string) {
	return []string{LabelMonitoredBy, LabelSidecarInjection}, []string{AnnotationSidecarInjection}
}

// PodOptsOut reports whether a pod (or pod template) with these labels and
// annotations opts out of injection: LabelSidecarInjection or
// AnnotationSidecarInjection set to InjectionDisabled. With the label the
// API server does not even call the webhook (its objectSelector); the
// annotation, as older manifests carry it, keeps the injector away too.
func PodOptsOut(labels, annotations map[string]string) bool {
	return labels[LabelSidecarInjection] == InjectionDisabled || annotations[AnnotationSidecarInjection] == InjectionDisabled
}
