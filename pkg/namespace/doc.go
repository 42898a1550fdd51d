// Package namespace owns namespace enrolment: `meshctl namespace add`,
// `remove` and `list`. A namespace belongs to a mesh when it carries the label
// meshconfig.LabelMonitoredBy with the mesh's name; the annotation
// meshconfig.AnnotationSidecarInjection says whether the webhook injects the
// sidecar into its new pods. Pods that already run are not changed by
// enrolment, so this package also finds the workloads whose pods lack (or
// still carry) the sidecar and can roll them like `kubectl rollout restart`.
//
// Uninstall unenrols every namespace of a mesh with RemoveAll (ListEnrolled,
// then Remove).
package namespace
