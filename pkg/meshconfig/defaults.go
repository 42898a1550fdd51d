package meshconfig

import (
	"fmt"
	"time"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Defaults of the MeshConfig spec. The CRD schema carries the same values as
// +kubebuilder:default markers in types.go, so that the API server fills in
// what a user leaves out; TestCRDDefaultsMatchDefaultSpec keeps them equal.
const (
	DefaultTracingPort     = 4318
	DefaultTracingEndpoint = "/v1/traces"
	// DefaultTrustDomain is the trust domain of a mesh installed with the
	// chart's defaults.
	DefaultTrustDomain = identity.DefaultTrustDomain
	// DefaultCertificateLifetime is a workload certificate's lifetime.
	DefaultCertificateLifetime = "24h"
)

// Bounds of IdentitySpec.CertificateLifetime: a proxy renews at two thirds
// of it, so a shorter one would keep the signer busy, and the signer never
// issues a leaf for longer than identity.MaxLeafLifetime.
const (
	MinCertificateLifetime = 10 * time.Minute
	MaxCertificateLifetime = identity.MaxLeafLifetime
)

// ParseCertificateLifetime reads IdentitySpec.CertificateLifetime; empty is
// DefaultCertificateLifetime.
func ParseCertificateLifetime(s string) (time.Duration, error) {
	if s == "" {
		s = DefaultCertificateLifetime
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("must be a duration such as 24h or 90m")
	}
	if d < MinCertificateLifetime || d > MaxCertificateLifetime {
		return 0, fmt.Errorf("must be between %s and %s", MinCertificateLifetime, MaxCertificateLifetime)
	}
	return d, nil
}

// LogLevels are the values SidecarSpec.LogLevel accepts, in increasing order
// of severity: the levels mesh-proxy parses.
func LogLevels() []string {
	levels := wire.LogLevels()
	out := make([]string, len(levels))
	for i, l := range levels {
		out[i] = string(l)
	}
	return out
}

// DefaultSpec is the spec of a MeshConfig whose fields are all absent:
// permissive mode and egress on (apps keep working when their namespace is
// enrolled), metrics on with the pods' Prometheus annotations, tracing and JWT validation off.
func DefaultSpec() MeshConfigSpec {
	return MeshConfigSpec{
		Sidecar: SidecarSpec{LogLevel: string(wire.DefaultLogLevel)},
		Traffic: TrafficSpec{
			EnablePermissiveTrafficPolicyMode: true,
			EnableEgress:                      true,
		},
		Observability: ObservabilitySpec{
			Tracing: TracingSpec{Port: DefaultTracingPort, Endpoint: DefaultTracingEndpoint},
			Metrics: MetricsSpec{Enable: true, PrometheusAnnotations: true},
		},
		Identity: IdentitySpec{TrustDomain: DefaultTrustDomain, CertificateLifetime: DefaultCertificateLifetime},
	}
}

// New returns the MeshConfig of a new mesh: DefaultSpec, named ObjectName, in
// namespace.
func New(namespace string) *MeshConfig {
	mc := &MeshConfig{Spec: DefaultSpec()}
	mc.APIVersion = SchemeGroupVersion.String()
	mc.Kind = Kind
	mc.Name = ObjectName
	mc.Namespace = namespace
	return mc
}
