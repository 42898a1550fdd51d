package meshconfig

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshConfig is the live configuration of one mesh. There is exactly one per
// mesh, named ObjectName, in the control-plane namespace. The controller
// watches it, and `meshctl permissive` and `meshctl config` edit it.
type MeshConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec MeshConfigSpec `json:"spec"`
}

// MeshConfigSpec is the mesh-wide configuration.
type MeshConfigSpec struct {
	// Sidecar configures the proxy injected into every meshed pod.
	Sidecar SidecarSpec `json:"sidecar"`
	// Traffic configures interception and the traffic policy mode.
	Traffic TrafficSpec `json:"traffic"`
	// Observability configures tracing and metrics.
	Observability ObservabilitySpec `json:"observability"`
	// Auth configures request authentication by the proxy.
	Auth AuthSpec `json:"auth"`
}

// SidecarSpec configures the sidecar proxy.
type SidecarSpec struct {
	// Image is the proxy image, used for both the init and the proxy
	// container. Empty means the image that belongs to this meshctl version.
	Image string `json:"image,omitempty"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `json:"logLevel,omitempty"`
	// Resources are the proxy container's requests and limits.
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// TrafficSpec configures traffic interception and policy.
type TrafficSpec struct {
	// EnablePermissiveTrafficPolicyMode lets every meshed service reach every
	// other, ignoring TrafficTargets. It is on by default so that apps keep
	// working when their namespace is enrolled.
	EnablePermissiveTrafficPolicyMode bool `json:"enablePermissiveTrafficPolicyMode"`
	// EnableEgress lets meshed pods reach destinations outside the mesh.
	EnableEgress bool `json:"enableEgress"`
	// InboundPortExclusionList are ports whose inbound traffic bypasses the proxy.
	InboundPortExclusionList []int32 `json:"inboundPortExclusionList,omitempty"`
	// OutboundPortExclusionList are destination ports whose traffic bypasses the proxy.
	OutboundPortExclusionList []int32 `json:"outboundPortExclusionList,omitempty"`
	// OutboundIPRangeExclusionList are destination CIDRs whose traffic bypasses the proxy.
	OutboundIPRangeExclusionList []string `json:"outboundIPRangeExclusionList,omitempty"`
}

// ObservabilitySpec configures telemetry.
type ObservabilitySpec struct {
	// Tracing configures span export.
	Tracing TracingSpec `json:"tracing"`
	// Metrics configures the proxy's Prometheus endpoint.
	Metrics MetricsSpec `json:"metrics"`
}

// TracingSpec configures span export over OTLP.
type TracingSpec struct {
	// Enable turns span export on.
	Enable bool `json:"enable"`
	// Address is the collector's host name or IP.
	Address string `json:"address,omitempty"`
	// Port is the collector's port.
	Port int32 `json:"port,omitempty"`
	// Endpoint is the collector's HTTP path, such as /v1/traces.
	Endpoint string `json:"endpoint,omitempty"`
}

// MetricsSpec configures the proxy's metrics.
type MetricsSpec struct {
	// Enable turns the proxy's /metrics endpoint on.
	Enable bool `json:"enable"`
}

// AuthSpec configures request authentication.
type AuthSpec struct {
	// JWT configures validation of the Authorization: Bearer header on
	// inbound requests.
	JWT JWTSpec `json:"jwt"`
}

// JWTSpec configures JWT validation. Exactly one of JWKSURL and JWKS is set
// when Enable is true.
type JWTSpec struct {
	// Enable turns validation on.
	Enable bool `json:"enable"`
	// Issuer is the required iss claim.
	Issuer string `json:"issuer,omitempty"`
	// Audiences lists accepted aud values; a token must name at least one.
	Audiences []string `json:"audiences,omitempty"`
	// JWKSURL is where the signing keys are fetched from.
	JWKSURL string `json:"jwksURL,omitempty"`
	// JWKS is an inline JSON Web Key Set.
	JWKS string `json:"jwks,omitempty"`
}

// MeshConfigList is a list of MeshConfigs.
type MeshConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []MeshConfig `json:"items"`
}
