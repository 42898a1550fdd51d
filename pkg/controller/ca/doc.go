// Package ca is the mesh's certificate authority as mesh-controller runs
// it. It owns, for one mesh:
//
//   - authority.go: the issuer, read from the kubernetes.io/tls Secret
//     meshconfig.IssuerSecretName (as cert-manager writes it) and the
//     trust bundle, read from the ConfigMap meshconfig.TrustBundleName,
//     both in the control-plane namespace and watched by informers limited
//     to those objects, so a renewed issuer or a rotated bundle applies
//     without a restart. A bad update keeps the last good one and says so
//     (log, Event, metric, a warning on /readyz); an issuer that does not
//     chain to an anchor of the bundle is not used (not ready, signing
//     answers 503).
//   - certificate.go: the controller's own certificate on the proxy API
//     port, for meshconfig.ControllerID, with a key that never leaves
//     memory, renewed at two thirds of its life and whenever the issuer
//     or the bundle changes. Issuing it is also how the issuer is checked
//     against the bundle: it must verify exactly as a proxy verifies.
//   - copies.go: a copy of the bundle in every namespace enrolled in the
//     mesh, as a ConfigMap of the same name and key, which pods mount
//     through a projected volume. The kubelet refreshes mounted ConfigMaps
//     in place, so an anchor rotation reaches running pods with no restart.
//     Copies in namespaces that leave the mesh are kept, and still
//     updated: their pods may still run sidecars that read them. `meshctl
//     uninstall` finds them by their labels (CopyLabels: part-of meshctl,
//     the mesh's name, component trust-bundle).
//   - signing.go: the HTTP handler of pkg/controller/signer, fed with the
//     current issuer, trust domain and lifetime.
//   - expiry.go: when an issuer nearing expiry is warned about.
//   - metrics.go: expiry timestamps and the state of the CA, for alerts.
//
// Everything is level-triggered (STYLE 27): informer events put keys on a
// work queue, and each reconcile computes the whole answer again from the
// listers, so a lost event costs nothing; a resync every minute catches
// what time alone changes (an issuer becoming valid, or nearing expiry).
package ca
