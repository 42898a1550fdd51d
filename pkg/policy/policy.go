package policy

import (
	"net/netip"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Set is the compiled policy of the whole mesh, as mesh-controller sends
// it on the channel: whether the mesh is permissive, and one Policy per
// destination identity that some TrafficTarget or IngressBackend names.
// A destination without one is governed by Permissive alone (For).
//
// A Set is immutable once built (NewSet, DecodeSet) and safe for
// concurrent use: a proxy swaps in the whole of a new one atomically.
type Set struct {
	// Permissive is the MeshConfig's
	// spec.traffic.enablePermissiveTrafficPolicyMode.
	Permissive bool `json:"permissive"`
	// Policies are sorted by Destination, one per identity.
	Policies []Policy `json:"policies"`
}

// Policy is the compiled policy of one destination identity: everything
// that decides who may reach the pods of that ServiceAccount. Build it
// through a Set (NewSet, DecodeSet, For): the evaluator uses an index the
// Set builds, and a Policy made any other way denies every request
// unless Permissive.
type Policy struct {
	// Destination is the ServiceAccount whose pods this policy protects.
	Destination identity.ID `json:"destination"`
	// Permissive allows every request: the mesh is in permissive mode.
	Permissive bool `json:"permissive"`
	// Targets are the TrafficTargets naming Destination, sorted by Name.
	Targets []Target `json:"targets,omitempty"`
	// Ingress are the IngressBackend backends whose Service selects
	// Destination's pods, sorted by Name, then Port.
	Ingress []Ingress `json:"ingress,omitempty"`

	// bySource lists, for each source identity's string, the rules that
	// name it, in the order of Targets and their Rules.
	bySource map[string][]grant
}

// grant is one rule of one Target that a source may use.
type grant struct {
	target, rule int32
}

// Target is one TrafficTarget, compiled.
type Target struct {
	// Name is the TrafficTarget's "namespace/name".
	Name string `json:"name"`
	// Port, when not 0, is the only destination port (the pod's port,
	// as the proxy sees it) the TrafficTarget applies to.
	Port uint16 `json:"port,omitempty"`
	// Sources are the identities the TrafficTarget allows.
	Sources []identity.ID `json:"sources"`
	// Rules are the rules that compiled. A Target without rules allows
	// nothing.
	Rules []Rule `json:"rules"`
}

// RuleKind is the kind of route a rule names.
type RuleKind string

// The kinds of rule.
const (
	// KindHTTP is an HTTPRouteGroup rule: it allows HTTP requests that
	// one of its matches matches, and no opaque TCP.
	KindHTTP RuleKind = "HTTPRouteGroup"
	// KindTCP is a TCPRoute rule: it allows connections, and the HTTP
	// requests on them, to its ports.
	KindTCP RuleKind = "TCPRoute"
)

// Rule is one entry of a TrafficTarget's spec.rules, with its route
// resolved.
type Rule struct {
	// Index is the rule's position in the TrafficTarget's spec.rules.
	Index int `json:"index"`
	// Kind is the kind of route.
	Kind RuleKind `json:"kind"`
	// Name is the route's (HTTPRouteGroup's or TCPRoute's) name.
	Name string `json:"name"`
	// HTTP are the HTTPRouteGroup's matches the rule selects (KindHTTP);
	// a request matching any one is allowed. None allows nothing.
	HTTP []HTTPMatch `json:"http,omitempty"`
	// TCP is the TCPRoute's match (KindTCP).
	TCP *TCPMatch `json:"tcp,omitempty"`
}

// HTTPMatch is one named match of an HTTPRouteGroup: a request matches
// when its method, its normalized path and its headers all do.
type HTTPMatch struct {
	// Name is the match's name in its group.
	Name string `json:"name"`
	// Methods are the allowed methods, compared exactly (methods are
	// case-sensitive); "*" is any method. Never empty.
	Methods []string `json:"methods"`
	// PathRegex must match the whole normalized path (NormalizePath);
	// nil matches any path.
	PathRegex *Regex `json:"pathRegex,omitempty"`
	// Headers must all match. Sorted by Name, distinct.
	Headers []HeaderMatch `json:"headers,omitempty"`
}

// HeaderMatch is one header condition of an HTTPMatch.
type HeaderMatch struct {
	// Name is the field name in canonical form (Content-Type), as
	// net/http keys it. "Host" is matched against the normalized host
	// (NormalizeHost) of the request, not against a field.
	Name string `json:"name"`
	// Value must match the whole of every field of that name, and there
	// must be at least one. nil requires only that the field is present.
	Value *Regex `json:"value,omitempty"`
}

// TCPMatch is a TCPRoute's match.
type TCPMatch struct {
	// Name is the match's name, if the route gave it one.
	Name string `json:"name,omitempty"`
	// AnyPort allows every port; Ports is then empty.
	AnyPort bool `json:"anyPort,omitempty"`
	// Ports are the allowed destination ports, sorted and distinct.
	Ports []uint16 `json:"ports,omitempty"`
}

// Protocol is what an IngressBackend backend speaks.
type Protocol string

// The protocols of an IngressBackend backend.
const (
	// ProtocolHTTP allows HTTP requests only.
	ProtocolHTTP Protocol = "http"
	// ProtocolTCP allows connections of any protocol, HTTP requests
	// included.
	ProtocolTCP Protocol = "tcp"
)

// Ingress is one backend of one IngressBackend that reaches Destination.
type Ingress struct {
	// Name is the IngressBackend's "namespace/name".
	Name string `json:"name"`
	// Backend is the backend's Service name (in the IngressBackend's
	// namespace) and port, for explain: "bookstore:14001".
	Backend string `json:"backend"`
	// Port is the pod's port that the backend's Service port targets.
	Port uint16 `json:"port"`
	// Protocol is what the backend accepts.
	Protocol Protocol `json:"protocol"`
	// IPRanges are the source ranges allowed, with or without identity.
	IPRanges []netip.Prefix `json:"ipRanges,omitempty"`
	// Sources are the verified identities allowed.
	Sources []identity.ID `json:"sources,omitempty"`
}
