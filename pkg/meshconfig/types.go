package meshconfig

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshConfig is the live configuration of one mesh. There is exactly one per
// mesh, named ObjectName, in the control-plane namespace. The controller
// watches it, and `meshctl permissive` and `meshctl config` edit it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=mc,categories=meshctl
// +kubebuilder:metadata:labels="app.kubernetes.io/part-of=meshctl"
// +kubebuilder:printcolumn:name="Permissive",type=boolean,JSONPath=`.spec.traffic.enablePermissiveTrafficPolicyMode`
// +kubebuilder:printcolumn:name="Egress",type=boolean,JSONPath=`.spec.traffic.enableEgress`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name == 'mesh-config'",message="a mesh has exactly one MeshConfig and it is named mesh-config"
type MeshConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the mesh-wide configuration; absent fields take their defaults.
	// +kubebuilder:default={}
	// +optional
	Spec MeshConfigSpec `json:"spec"`
}

// MeshConfigSpec is the mesh-wide configuration.
type MeshConfigSpec struct {
	// Sidecar configures the proxy injected into every meshed pod.
	// +kubebuilder:default={}
	// +optional
	Sidecar SidecarSpec `json:"sidecar"`
	// Traffic configures interception and the traffic policy mode.
	// +kubebuilder:default={}
	// +optional
	Traffic TrafficSpec `json:"traffic"`
	// Observability configures tracing and metrics.
	// +kubebuilder:default={}
	// +optional
	Observability ObservabilitySpec `json:"observability"`
	// Auth configures request authentication by the proxy.
	// +kubebuilder:default={}
	// +optional
	Auth AuthSpec `json:"auth"`
	// Identity configures workload identity: the trust domain of the
	// SPIFFE IDs and the lifetime of workload certificates.
	// +kubebuilder:default={}
	// +optional
	Identity IdentitySpec `json:"identity"`
}

// IdentitySpec configures workload identity. Every part of the mesh reads
// the trust domain from here: the controller signs in it, the injector
// tells each proxy, `meshctl check` compares certificates with it.
type IdentitySpec struct {
	// TrustDomain is the trust domain of every workload's SPIFFE ID,
	// spiffe://<trustDomain>/ns/<namespace>/sa/<serviceaccount>. It cannot
	// change after install: every certificate and proxy would disagree.
	// +kubebuilder:validation:MaxLength=255
	// +kubebuilder:validation:Pattern=`^[a-z0-9._-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="trustDomain cannot change after install; reinstall the mesh to change it"
	// +kubebuilder:default=cluster.local
	// +optional
	TrustDomain string `json:"trustDomain,omitempty"`
	// CertificateLifetime is how long a workload certificate is valid, as
	// a Go duration ("24h"); proxies renew at about two thirds of it. At
	// least 10m and at most 168h (7 days).
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(h|m|s))+$`
	// +kubebuilder:default="24h"
	// +optional
	CertificateLifetime string `json:"certificateLifetime,omitempty"`
}

// SidecarSpec configures the sidecar proxy.
type SidecarSpec struct {
	// Image is the proxy image, used for both the init and the proxy
	// container. Empty means the image that belongs to this meshctl version.
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`
	// LogLevel is one of debug, info, warn, error (see LogLevels).
	// +kubebuilder:validation:Enum=debug;info;warn;error
	// +kubebuilder:default=info
	LogLevel string `json:"logLevel,omitempty"`
	// Resources are the proxy container's requests and limits.
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
}

// TrafficSpec configures traffic interception and policy.
type TrafficSpec struct {
	// EnablePermissiveTrafficPolicyMode lets every meshed service reach every
	// other, ignoring TrafficTargets. It is on by default so that apps keep
	// working when their namespace is enrolled.
	// +kubebuilder:default=true
	// +optional
	EnablePermissiveTrafficPolicyMode bool `json:"enablePermissiveTrafficPolicyMode"`
	// EnableEgress lets meshed pods reach destinations outside the mesh. It is
	// on by default for the same reason as permissive mode.
	// +kubebuilder:default=true
	// +optional
	EnableEgress bool `json:"enableEgress"`
	// InboundPortExclusionList are ports whose inbound traffic bypasses the proxy.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	InboundPortExclusionList []int32 `json:"inboundPortExclusionList,omitempty"`
	// OutboundPortExclusionList are destination ports whose traffic bypasses the proxy.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	OutboundPortExclusionList []int32 `json:"outboundPortExclusionList,omitempty"`
	// OutboundIPRangeExclusionList are destination CIDRs whose traffic bypasses the proxy.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="must be a CIDR such as 10.0.0.0/8"
	OutboundIPRangeExclusionList []string `json:"outboundIPRangeExclusionList,omitempty"`
}

// ObservabilitySpec configures telemetry.
type ObservabilitySpec struct {
	// Tracing configures span export.
	// +kubebuilder:default={}
	// +optional
	Tracing TracingSpec `json:"tracing"`
	// Metrics configures the proxy's Prometheus endpoint.
	// +kubebuilder:default={}
	// +optional
	Metrics MetricsSpec `json:"metrics"`
}

// TracingSpec configures span export over OTLP.
//
// +kubebuilder:validation:XValidation:rule="!has(self.enable) || !self.enable || (has(self.address) && size(self.address) > 0)",message="address is required when tracing is enabled"
type TracingSpec struct {
	// Enable turns span export on.
	// +optional
	Enable bool `json:"enable"`
	// Address is the collector's host name or IP.
	// +kubebuilder:validation:MaxLength=253
	Address string `json:"address,omitempty"`
	// Port is the collector's port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:default=4318
	Port int32 `json:"port,omitempty"`
	// Endpoint is the collector's HTTP path, such as /v1/traces.
	// +kubebuilder:validation:Pattern=`^/`
	// +kubebuilder:default=/v1/traces
	Endpoint string `json:"endpoint,omitempty"`
}

// MetricsSpec configures the proxy's metrics.
type MetricsSpec struct {
	// Enable turns the proxy's /metrics endpoint on.
	// +kubebuilder:default=true
	// +optional
	Enable bool `json:"enable"`
	// PrometheusAnnotations has the injector annotate meshed pods with
	// the conventional prometheus.io/scrape, prometheus.io/port and
	// prometheus.io/path (the proxy's admin port and metrics path), which
	// Prometheus's usual kubernetes-pods job scrapes by. Annotations the
	// pod already has are kept. Without Enable, pods get none.
	// +kubebuilder:default=true
	// +optional
	PrometheusAnnotations bool `json:"prometheusAnnotations"`
}

// AuthSpec configures request authentication.
type AuthSpec struct {
	// JWT configures validation of the Authorization: Bearer header on
	// inbound requests.
	// +kubebuilder:default={}
	// +optional
	JWT JWTSpec `json:"jwt"`
}

// JWTSpec configures JWT validation. Exactly one of JWKSURL and JWKS is set
// when Enable is true.
//
// +kubebuilder:validation:XValidation:rule="!has(self.enable) || !self.enable || ((has(self.jwksURL) && size(self.jwksURL) > 0) != (has(self.jwks) && size(self.jwks) > 0))",message="exactly one of jwksURL and jwks is required when JWT validation is enabled"
// +kubebuilder:validation:XValidation:rule="!has(self.enable) || !self.enable || (has(self.issuer) && size(self.issuer) > 0)",message="issuer is required when JWT validation is enabled"
type JWTSpec struct {
	// Enable turns validation on.
	// +optional
	Enable bool `json:"enable"`
	// Issuer is the required iss claim.
	Issuer string `json:"issuer,omitempty"`
	// Audiences lists accepted aud values; a token must name at least one.
	// +listType=set
	Audiences []string `json:"audiences,omitempty"`
	// JWKSURL is where the signing keys are fetched from.
	// +kubebuilder:validation:Pattern=`^https?://`
	JWKSURL string `json:"jwksURL,omitempty"`
	// JWKS is an inline JSON Web Key Set.
	JWKS string `json:"jwks,omitempty"`
	// Destinations are the workloads that require a valid token, by the
	// identity they run as; empty means every meshed workload. The
	// others accept requests with or without one. A change reaches
	// running proxies without a restart.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	Destinations []JWTDestination `json:"destinations,omitempty"`
}

// JWTDestination names workloads by their identity: a namespace, and one
// ServiceAccount of it or, when empty, all of them.
type JWTDestination struct {
	// Namespace is the workloads' namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace"`
	// ServiceAccount is the workloads' ServiceAccount; empty means every
	// one of the namespace.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ServiceAccount string `json:"serviceAccount,omitempty"`
}

// MeshConfigList is a list of MeshConfigs.
//
// +kubebuilder:object:root=true
type MeshConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []MeshConfig `json:"items"`
}
