// Package rollout owns bringing running pods to the sidecar the MeshConfig
// names: finding the workloads whose proxies are outdated (the one rule,
// proxyconfig.OutdatedContainers), restarting them namespace by namespace as
// `kubectl rollout restart` does (namespace.RestartWorkload), and waiting for
// each rollout as `kubectl rollout status` does, with progress on stderr and
// a summary. `meshctl upgrade --restart-proxies` and `meshctl namespace
// restart` are its two callers.
//
// The wait reads the workloads' status, which the cluster's controllers
// write; a test writes it itself (internal/testenv runs no controllers).
package rollout
