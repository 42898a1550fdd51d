// Package controller is mesh-controller, the control plane: the admission
// webhook that injects the sidecar into new pods of enrolled namespaces, and
// the proxy API port where the mesh CA (pkg/controller/ca) signs proxies'
// certificates. It owns the pieces of that process, each small:
//
//   - webhook.go: the admission handler, a thin adapter around pkg/inject,
//     the same engine `meshctl inject` runs, so the two never disagree;
//   - meshconfig.go: the MeshConfig informer that keeps the current injector,
//     so that a changed proxy image applies to the next pod, no restart;
//   - certs.go: the controller's own CA and serving certificate, kept in one
//     Secret so that replicas and restarts agree, renewed well before expiry;
//   - cabundle.go: patching that CA into the chart's webhook configuration,
//     and asking whether it trusts a certificate yet;
//   - leader.go: the election of the replica that does what must happen
//     once (the Secret and the caBundle, the trust bundle's copies, Events);
//     every replica serves the webhook, signing and the channel;
//   - health.go: /healthz, /readyz (ready once the certificate, the caBundle,
//     the MeshConfig and the CA's issuer are in place; warnings listed) and
//     Prometheus /metrics;
//   - controller.go: Options and Run, which wire them together and serve
//     the webhook, the proxy API port and health.
//
// # failurePolicy
//
// The chart's MutatingWebhookConfiguration uses failurePolicy Fail by
// default (values: controller.webhook.failurePolicy), and selects only the
// pods that will be injected (namespaces enrolled with injection enabled,
// pods not labelled out; pkg/meshconfig InjectionOf and PodOptsOut). The
// trade-off (docs/production.md):
//
//   - Fail: while the controller is down or unreachable, the API server
//     refuses every new pod of an enrolled namespace (Deployments stall,
//     their ReplicaSets report FailedCreate). No pod of an enrolled namespace
//     ever runs without the sidecar (its JWT validation, metrics and
//     tracing, and the policy and mTLS of the next releases); the cost is
//     availability.
//     The control-plane and system namespaces are excluded by the
//     namespaceSelector, so the controller itself can always be restarted;
//     two replicas, a PodDisruptionBudget and a graceful stop keep one
//     answering through drains and rollouts.
//   - Ignore: pods of enrolled namespaces start without a sidecar while the
//     controller is down. Workloads keep scaling, but those pods are outside
//     the mesh until restarted.
//
// `meshctl check` sees the consequence either way: with Fail, the control
// plane checks (Deployment ready, Service endpoints, caBundle) fail and name
// the controller; with Ignore, the data-plane checks report pods of enrolled
// namespaces that run without the sidecar.
//
// The handler itself denies a pod only when pkg/inject refuses it (a bad
// per-workload annotation, which the user must fix); every other case is
// allowed, unchanged when not injected, and the reason is logged.
package controller
