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

// Prometheus's conventional pod annotations, which its kubernetes-pods
// scrape job (and many a Helm chart's Prometheus) selects and relabels
// targets by. The injector sets them to the proxy's admin port and
// metrics path (PrometheusAnnotations) when the MeshConfig asks.
const (
	AnnotationPrometheusScrape = "prometheus.io/scrape"
	AnnotationPrometheusPort   = "prometheus.io/port"
	AnnotationPrometheusPath   = "prometheus.io/path"
)

// PrometheusAnnotationKeys lists the Prometheus annotations, sorted. A pod
// that already has any of them keeps its own and gets none of the others,
// so that the injector never pairs its port with the pod's path or the
// reverse.
func PrometheusAnnotationKeys() []string {
	return []string{AnnotationPrometheusPath, AnnotationPrometheusPort, AnnotationPrometheusScrape}
}
