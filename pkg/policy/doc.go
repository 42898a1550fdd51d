// Package policy is the mesh's authorization: the compiled policy of each
// destination identity and the one evaluator that decides on it. mesh-proxy
// calls it on every inbound request and connection, and `meshctl policy
// explain` calls the same functions, so the CLI's answer and the proxy's
// decision cannot drift apart.
//
// # Semantics
//
// (docs/authorization.md says the same for operators.)
//
//   - Permissive mode on: every request and connection is allowed, from
//     anywhere, with or without identity.
//   - Permissive mode off: a request to a meshed destination is allowed
//     only if some TrafficTarget names the destination's ServiceAccount,
//     the caller's verified identity among its sources, and a rule that
//     matches the request (and, if it sets destination.port, that port).
//     Several TrafficTargets on one destination are a union. A
//     TrafficTarget with no rules allows nothing; so does a rule whose
//     route is missing or failed to compile.
//   - An HTTPRouteGroup match matches when the method is one of its
//     methods ("*" any), its pathRegex matches the whole normalized path
//     (NormalizePath; never a prefix or a substring), and every header it
//     names is present with every value wholly matching its regex. Host is
//     matched against the normalized host (NormalizeHost).
//   - A TCPRoute rule allows connections to its ports, and the HTTP
//     requests on them; an HTTPRouteGroup rule allows HTTP requests and
//     never an opaque TCP connection.
//   - A caller without identity (plain text, or an unmeshed source) is
//     allowed only where an IngressBackend lets its address (IP range)
//     reach that port; an IngressBackend may also name identities.
//   - The caller's identity comes only from its mutual-TLS certificate:
//     the evaluator takes it as an argument and never reads a header.
//
// # Use
//
// The controller builds a Set (pkg/policy/crd's Compile) and sends its
// JSON; the proxy decodes it (DecodeSet), takes its own Policy
// (Set.For) and keeps it behind an atomic pointer. When it knows the
// caller of a new connection it asks Policy.MayConnect, and closes a
// connection nothing could allow before dialing the app; then each HTTP
// request is decided by Policy.HTTP and each opaque TCP connection by
// Policy.TCP (again for every open one when a new Set arrives). None of
// them allocates on an allowed request whose path is already normal, nor
// takes a lock. meshctl calls the same functions, and Policy.ExplainHTTP
// and ExplainTCP, which return exactly their decision with the reasons.
//
// The package links only the standard library and pkg/identity
// (deps_test.go holds that), because mesh-proxy links it.
package policy
