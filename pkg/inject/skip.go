package inject

// SkipReason says why a resource was not injected (or not uninjected). It is
// a closed set of stable IDs: the webhook logs them and tests match them.
type SkipReason string

// The skip reasons.
const (
	// SkipNotWorkload: the resource has no pod template (a Service, a
	// ConfigMap, ...). It passes through untouched.
	SkipNotWorkload SkipReason = "NotWorkload"
	// SkipNoPodTemplate: a workload kind whose template is missing, such as
	// a ReplicationController without spec.template.
	SkipNoPodTemplate SkipReason = "NoPodTemplate"
	// SkipNoContainers: the pod template has no containers, so no app to
	// put a proxy beside (and the API server would reject it anyway).
	SkipNoContainers SkipReason = "NoContainers"
	// SkipOptedOut: the pod template carries meshctl.io/sidecar-injection:
	// disabled, as a label or an annotation.
	SkipOptedOut SkipReason = "OptedOut"
	// SkipHostNetwork: the pod shares the node's network namespace, where
	// interception rules would capture the node's traffic.
	SkipHostNetwork SkipReason = "HostNetwork"
	// SkipSystemNamespace: kube-system, kube-public or kube-node-lease.
	SkipSystemNamespace SkipReason = "SystemNamespace"
	// SkipControlPlaneNamespace: the mesh's own namespace.
	SkipControlPlaneNamespace SkipReason = "ControlPlaneNamespace"
	// SkipOtherMesh: the pod already carries another mesh's sidecar.
	SkipOtherMesh SkipReason = "OtherMesh"
	// SkipNameConflict: the pod has a container named like the sidecar's
	// that meshctl did not inject.
	SkipNameConflict SkipReason = "NameConflict"
	// SkipNotInjected: uninject found no marker; nothing to remove.
	SkipNotInjected SkipReason = "NotInjected"
)

// SkipReasons lists every reason.
func SkipReasons() []SkipReason {
	return []SkipReason{SkipNotWorkload, SkipNoPodTemplate, SkipNoContainers, SkipOptedOut, SkipHostNetwork, SkipSystemNamespace,
		SkipControlPlaneNamespace, SkipOtherMesh, SkipNameConflict, SkipNotInjected}
}

// Message is the reason as the report prints it.
func (r SkipReason) Message() string {
	switch r {
	case SkipNotWorkload:
		return "not a workload"
	case SkipNoPodTemplate:
		return "no pod template"
	case SkipNoContainers:
		return "no containers"
	case SkipOptedOut:
		return "opted out"
	case SkipHostNetwork:
		return "hostNetwork"
	case SkipSystemNamespace:
		return "system namespace"
	case SkipControlPlaneNamespace:
		return "control-plane namespace"
	case SkipOtherMesh:
		return "another mesh's sidecar"
	case SkipNameConflict:
		return "container name taken"
	case SkipNotInjected:
		return "not injected"
	}
	return string(r)
}

// Warning reports whether skipping for r leaves a workload unmeshed that the
// user presumably wanted meshed; `--strict` fails on those. Resources that
// are not workloads, and uninjecting what was never injected, are not.
func (r SkipReason) Warning() bool {
	return r != SkipNotWorkload && r != SkipNotInjected && r != ""
}
