package proxyconfig

// AnnotationPrefix is the prefix of the per-workload proxy settings, set as
// pod-template annotations. They refine the mesh-wide MeshConfig for one
// workload; see ForWorkload.
const AnnotationPrefix = "config.meshctl.io/"

// Per-workload annotations. Port and CIDR lists are comma-separated and are
// added to the mesh-wide exclusion lists; the log level replaces the
// mesh-wide one.
const (
	// AnnotationSkipInboundPorts lists ports whose inbound traffic bypasses
	// the proxy, such as "8081,9090".
	AnnotationSkipInboundPorts = AnnotationPrefix + "skip-inbound-ports"
	// AnnotationSkipOutboundPorts lists destination ports whose outbound
	// traffic bypasses the proxy.
	AnnotationSkipOutboundPorts = AnnotationPrefix + "skip-outbound-ports"
	// AnnotationSkipOutboundCIDRs lists destination CIDRs whose outbound
	// traffic bypasses the proxy, such as "10.0.0.0/8,fd00::/8".
	AnnotationSkipOutboundCIDRs = AnnotationPrefix + "skip-outbound-cidrs"
	// AnnotationProxyLogLevel is the proxy's log level for this workload.
	AnnotationProxyLogLevel = AnnotationPrefix + "proxy-log-level"
)

// Annotations lists every per-workload annotation, in the order they are
// documented.
func Annotations() []string {
	return []string{AnnotationSkipInboundPorts, AnnotationSkipOutboundPorts, AnnotationSkipOutboundCIDRs, AnnotationProxyLogLevel}
}
