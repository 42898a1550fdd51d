// Package wire is the contract between the injector, which writes the
// sidecar's arguments and environment into a pod (through pkg/proxyconfig),
// and mesh-proxy, which reads them back. It owns the proxy's ports and user,
// the admin endpoints, the log levels, the `mesh-proxy init` and
// `mesh-proxy run` arguments (each writer next to its reader, so the two can
// never disagree) and the pod environment the proxy expects.
//
// It must stay free of Kubernetes imports (k8s.io/..., and pkg/meshconfig,
// which pulls them in): mesh-proxy runs in every meshed pod, and importing
// the Kubernetes API types would link hundreds of packages into the sidecar,
// multiplying its binary size and idle memory. The Kubernetes side of the
// sidecar (container specs, resources, the MeshConfig) lives in
// pkg/proxyconfig; a test in cmd/mesh-proxy fails if any of it reaches the
// binary.
package wire
