// Package identity is the mesh's workload identity and certificate code,
// shared by the two sides of issuance and by both ends of mutual TLS:
//
//   - mesh-controller loads its issuer (LoadIssuer) and signs proxies'
//     certificate requests (Issuer.Sign) after it has authenticated the
//     caller; meshctl install makes the anchor and issuer when the user
//     brings none (GenerateAnchor, GenerateIssuer).
//   - mesh-proxy makes its key in memory (NewKey), asks for a certificate
//     for exactly its own SPIFFE ID (NewCSR), and authenticates peers
//     against a trust bundle that may hold several anchors at once
//     (Bundle, Verify, ServerConfig, ClientConfig).
//
// A workload's identity is its ServiceAccount written as a SPIFFE ID,
// spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>, the only URI
// SAN of its certificate (ID, ParseID).
//
// The package decides what a valid mesh certificate is; it never decides
// who may talk to whom. Callers pass an Authorizer for that.
//
// It links only the standard library: mesh-proxy runs in every meshed pod
// and must stay small, so no Kubernetes, gRPC or SPIFFE library comes in
// through here (deps_test.go holds that). go-spiffe appears in the tests
// only, as the reference the hand-written ID parser is held to.
package identity
