package meshconfig

import "github.com/meshctl/meshctl/pkg/proxyconfig/wire"

// Defaults of the MeshConfig spec. The CRD schema carries the same values as
// +kubebuilder:default markers in types.go, so that the API server fills in
// what a user leaves out; TestCRDDefaultsMatchDefaultSpec keeps them equal.
const (
	DefaultTracingPort     = 4318
	DefaultTracingEndpoint = "/v1/traces"
)

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
// enrolled), metrics on, tracing and JWT validation off.
func DefaultSpec() MeshConfigSpec {
	return MeshConfigSpec{
		Sidecar: SidecarSpec{LogLevel: string(wire.DefaultLogLevel)},
		Traffic: TrafficSpec{
			EnablePermissiveTrafficPolicyMode: true,
			EnableEgress:                      true,
		},
		Observability: ObservabilitySpec{
			Tracing: TracingSpec{Port: DefaultTracingPort, Endpoint: DefaultTracingEndpoint},
			Metrics: MetricsSpec{Enable: true},
		},
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
