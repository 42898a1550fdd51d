// Package inject owns sidecar injection, the one engine behind both
// `meshctl inject` and the admission webhook, so the two can never disagree.
//
// The engine (Injector) is independent of YAML: a pod template and the
// sidecar definition of pkg/proxyconfig go in, an RFC 6902 JSON patch and a
// Result (what was done, or a typed SkipReason) come out. The webhook returns
// that patch as-is. The marker annotation meshconfig.AnnotationInjected records exactly
// what a patch added, which makes injection idempotent, lets a newer meshctl
// replace an older sidecar (the upgrade path) and lets Uninject remove
// exactly that and nothing else.
//
// This package is the engine alone, in three parts: the decisions
// (injector.go: what to do with a pod template, or why to skip it), the
// memo of rendered sidecars and markers (memo.go), and the RFC 6902 diff
// from the current template to the desired one (diff.go). It reads no YAML,
// so mesh-controller links it without a manifest reader. Reading and
// reprinting manifests for `meshctl inject` and `meshctl uninject` is
// pkg/inject/manifest's job.
package inject

import "github.com/meshctl/meshctl/pkg/meshconfig"

// Metadata the injector writes into a pod template.
const (
	// AnnotationDefaultContainer is kubectl's: it names the container that
	// `kubectl logs` and `kubectl exec` pick. The injector sets it to the
	// app's first container, unless the workload already sets it.
	AnnotationDefaultContainer = "kubectl.kubernetes.io/default-container"
)

// OtherMeshContainers are container names of other meshes' sidecars; a pod
// carrying one is not injected, because two sets of interception rules in
// one pod break its traffic.
func OtherMeshContainers() []string {
	return []string{"istio-proxy", "istio-init", "linkerd-proxy", "linkerd-init", "envoy"}
}

// optedOut reports whether a pod template opts its workload out of
// injection, by label or annotation (meshconfig.PodOptsOut).
func optedOut(labels, annotations map[string]string) bool {
	return meshconfig.PodOptsOut(labels, annotations)
}
