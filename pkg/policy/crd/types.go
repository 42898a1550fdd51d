package crd

// API groups and versions of the policy resources.
const (
	AccessGroupVersion = "access.smi-spec.io/v1alpha3"
	SpecsGroupVersion  = "specs.smi-spec.io/v1alpha4"
	PolicyGroupVersion = "policy.meshctl.io/v1alpha1"
)

// Kinds of the policy resources and of what they refer to.
const (
	KindTrafficTarget          = "TrafficTarget"
	KindHTTPRouteGroup         = "HTTPRouteGroup"
	KindTCPRoute               = "TCPRoute"
	KindIngressBackend         = "IngressBackend"
	KindServiceAccount         = "ServiceAccount"
	KindIPRange                = "IPRange"
	KindService                = "Service"
	KindAuthenticatedPrincipal = "AuthenticatedPrincipal"
)

// ObjectMeta is the part of an object's metadata that policy uses.
type ObjectMeta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// TrafficTarget (access.smi-spec.io/v1alpha3) allows sources to reach a
// destination ServiceAccount over the routes its rules name.
type TrafficTarget struct {
	APIVersion string            `json:"apiVersion,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Metadata   ObjectMeta        `json:"metadata"`
	Spec       TrafficTargetSpec `json:"spec"`
}

// TrafficTargetSpec is the access policy.
type TrafficTargetSpec struct {
	// Destination is the ServiceAccount whose pods receive the traffic;
	// it must be in the TrafficTarget's own namespace.
	Destination IdentityBindingSubject `json:"destination"`
	// Sources are the ServiceAccounts allowed.
	Sources []IdentityBindingSubject `json:"sources,omitempty"`
	// Rules name the routes the sources may use.
	Rules []TrafficTargetRule `json:"rules,omitempty"`
}

// IdentityBindingSubject is a ServiceAccount, and for a destination maybe
// a port.
type IdentityBindingSubject struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Port, on a destination, restricts the TrafficTarget to that port
	// of its pods.
	Port *int `json:"port,omitempty"`
}

// TrafficTargetRule names a route (HTTPRouteGroup or TCPRoute, in the
// TrafficTarget's namespace) and, for a group, which of its matches; all
// of them when Matches is empty.
type TrafficTargetRule struct {
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Matches []string `json:"matches,omitempty"`
}

// HTTPRouteGroup (specs.smi-spec.io/v1alpha4) is a set of named HTTP
// request matches.
type HTTPRouteGroup struct {
	APIVersion string             `json:"apiVersion,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	Metadata   ObjectMeta         `json:"metadata"`
	Spec       HTTPRouteGroupSpec `json:"spec"`
}

// HTTPRouteGroupSpec holds the matches.
type HTTPRouteGroupSpec struct {
	Matches []HTTPMatch `json:"matches,omitempty"`
}

// HTTPMatch is one named request match.
type HTTPMatch struct {
	Name string `json:"name"`
	// Methods the request may use; "*" or none is any method.
	Methods []string `json:"methods,omitempty"`
	// PathRegex must match the whole normalized path; none is any path.
	PathRegex string `json:"pathRegex,omitempty"`
	// Headers maps field names to regular expressions that every value
	// of the field must wholly match; "" asks only that it is present.
	Headers map[string]string `json:"headers,omitempty"`
}

// TCPRoute (specs.smi-spec.io/v1alpha4) is a set of ports.
type TCPRoute struct {
	APIVersion string       `json:"apiVersion,omitempty"`
	Kind       string       `json:"kind,omitempty"`
	Metadata   ObjectMeta   `json:"metadata"`
	Spec       TCPRouteSpec `json:"spec"`
}

// TCPRouteSpec holds the route's one match.
type TCPRouteSpec struct {
	Matches TCPMatch `json:"matches,omitempty"`
}

// TCPMatch is the ports of a TCPRoute; none is every port.
type TCPMatch struct {
	Name  string `json:"name,omitempty"`
	Ports []int  `json:"ports,omitempty"`
}

// IngressBackend (policy.meshctl.io/v1alpha1) lets sources outside the
// mesh (by IP range) or named identities reach Services of its namespace.
type IngressBackend struct {
	APIVersion string             `json:"apiVersion,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	Metadata   ObjectMeta         `json:"metadata"`
	Spec       IngressBackendSpec `json:"spec"`
}

// IngressBackendSpec is the backends and the sources allowed to reach
// every one of them.
type IngressBackendSpec struct {
	Backends []BackendSpec       `json:"backends"`
	Sources  []IngressSourceSpec `json:"sources"`
}

// BackendSpec is a Service of the IngressBackend's namespace and one of
// its ports.
type BackendSpec struct {
	Name string   `json:"name"`
	Port PortSpec `json:"port"`
}

// PortSpec is a Service port and what it speaks.
type PortSpec struct {
	// Number is the Service's port (as in an Ingress's backend), which
	// Compile resolves to the pods' target port.
	Number int `json:"number"`
	// Protocol is "http" (HTTP requests only, the default) or "tcp" (any
	// connection, HTTP included).
	Protocol string `json:"protocol,omitempty"`
}

// IngressSourceSpec is one source: Kind IPRange with Name a CIDR,
// Service with Name and Namespace (the IngressBackend's when empty: the
// addresses of its ready endpoints, as those of an ingress controller),
// ServiceAccount with Name and Namespace (likewise), or
// AuthenticatedPrincipal with Name a SPIFFE ID.
type IngressSourceSpec struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}
