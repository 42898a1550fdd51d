// Package crd is the mesh's policy custom resources as plain Go types, and
// Compile, which turns the objects of a cluster into the per-destination
// policies of pkg/policy. Its types mirror the CRDs the chart installs:
// SMI's TrafficTarget (access.smi-spec.io/v1alpha3), HTTPRouteGroup and
// TCPRoute (specs.smi-spec.io/v1alpha4), and meshctl's IngressBackend
// (policy.meshctl.io/v1alpha1, shaped like OSM's). The package is named
// after what it holds, the CRDs, rather than "smi", because IngressBackend
// is not SMI's.
//
// The controller and meshctl read the objects as unstructured and convert
// them with encoding/json (json.Marshal of the object, json.Unmarshal into
// these types); Compile never talks to a cluster. Both call the same
// Compile, so `meshctl policy explain` evaluates exactly the policy the
// controller sends to the proxies.
//
// What cannot work is a Finding, naming the object and field: a
// TrafficTarget that names a missing route, a match that is not in its
// group, a regular expression that does not compile. Compile still
// compiles everything else, and the part at fault allows nothing (never
// more): `meshctl check` prints the findings.
//
// It links only the standard library, pkg/identity and pkg/policy
// (deps_test.go holds that), so it adds no Kubernetes library to meshctl's
// or the controller's policy path.
package crd
