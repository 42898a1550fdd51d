// Package policycli is the operator's side of authorization: `meshctl
// policy explain` (why is this request allowed or denied), `meshctl policy
// list` (who may reach whom), and the policy findings and unreachable
// destinations that `meshctl check` and `meshctl permissive disable`
// report.
//
// It owns no policy logic. It reads the objects the controller compiles
// from (one List per resource), compiles them with pkg/policy/cluster and
// pkg/policy/crd exactly as mesh-controller does, sends the result through
// JSON and pkg/policy's DecodeSet exactly as mesh-proxy receives it, and
// asks the proxy's evaluator (pkg/policy). The package is named for what it
// serves, the CLI's policy commands, rather than "policy", which is the
// evaluator's.
package policycli
