// Package channel is mesh-controller's side of the live channel to every
// proxy (the wire contract is pkg/channel): shared informers on pods,
// Services, EndpointSlices and namespaces feed one snapshot, rebuilt
// (debounced) on every change and streamed to every proxy that proves a
// mesh identity with its certificate.
//
// The API load does not grow with the number of proxies: the informers
// list and watch once per controller replica, and one snapshot, encoded
// once, is written to every stream. Replicas share no state: each builds
// the same snapshot from the same cluster state, and its version (a hash
// of the content) is the same on every replica, so a proxy may move
// between replicas without noticing.
//
// RBAC: the informers need list and watch, cluster-wide, on pods,
// services and namespaces (core) and endpointslices (discovery.k8s.io).
//
// Per-proxy snapshots (the authorization policy of the caller's own
// identity) come with the next issue: the handler already knows the
// caller's identity when it picks the snapshot to send (Server.snapshotFor).
package channel
