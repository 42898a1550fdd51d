// Package signer is the controller's side of certificate issuance: it
// decides who a proxy is and signs a certificate for exactly that identity.
// It owns the caller's validation (Authenticate, by TokenReview), the
// request's validation and signing (Signer, through identity.Issuer.Sign),
// and the HTTP endpoint (Handler, at issuance.Path). The wire contract the
// proxy uses is pkg/issuance, which links no Kubernetes code.
//
// # Trust decisions
//
// The identity comes from the TokenReview only. The namespace and
// ServiceAccount are parsed, strictly, from the authenticated username
// system:serviceaccount:<ns>:<sa> that the API server returns; nothing in
// the request (its subject, its SAN, a header, a query) names or even
// suggests the identity. The CSR carries the public key and must ask for
// exactly the identity derived from the token, nothing else: another ID,
// DNS, IP, email or other names, the CA bit or any other extension is
// refused (identity.Issuer.Sign), and the certificate's lifetime is the
// signer's, never the request's.
//
// The token's audience is Audience ("meshctl.io/identity"), the mesh's
// own. The TokenReview names it, and the answer must confirm it in
// Status.Audiences: an API server that ignored the requested audiences
// would otherwise let any token through. A mesh audience means the token a
// proxy sends us cannot be replayed against the API server (it is not
// valid there), and a token for the API server, which every pod may hold
// and which a compromised signer or a man in the middle could have
// collected, is not valid here.
//
// The token must be bound to a pod (the API server reports the pod's name
// and UID in the user's extra). Tokens that the kubelet projects into a pod
// are always pod-bound, so the proxy loses nothing; requiring it refuses
// the long-lived tokens of kubernetes.io/service-account-token Secrets and
// tokens minted by TokenRequest without a pod, which do not die with a
// pod. A pod-bound token stops authenticating once its pod is deleted or
// replaced by another of the same name (the API server checks that the pod
// exists with the token's UID; it reads pods through an informer, so this
// takes effect within seconds, about ten in the integration test), so a
// token copied out of a deleted pod is soon worth nothing here. The pod's name
// and UID are only logged: the identity is the ServiceAccount.
//
// Refusals are a closed set of Reasons (errors.Is-able). A failed
// TokenReview (the API server unreachable, or refusing the controller) is
// ReasonReviewFailed and answered 503, not 401: it says nothing about the
// caller, and the proxy should retry rather than give up on its token.
//
// # Not done yet
//
// mesh-controller does not serve the Handler yet: wiring it (its own port,
// named in the chart and pkg/meshconfig, on TLS with the controller's
// serving certificate), loading the issuer from its Secret into
// Signer.Issuer, and the proxy's client (issuance.Request) are later
// changes. Whoever wires it must give the controller's ServiceAccount this
// ClusterRole rule, which the chart does not grant yet:
//
//   - apiGroups: ["authentication.k8s.io"]
//     resources: ["tokenreviews"]
//     verbs: ["create"]
//
// and the injected pod spec must project a ServiceAccount token with
// audience issuance.Audience into the proxy container.
//
// Also not done: every request costs one TokenReview, with no cache and no
// rate limit, so a flood of requests with garbage tokens reaches the API
// server (bounded only by the controller's client QPS); and refusals are
// logged but not yet counted in metrics.
package signer
