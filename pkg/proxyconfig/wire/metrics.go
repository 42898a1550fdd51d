package wire

// Names of the proxy's own metrics on its admin port (MetricsPath): part
// of the proxy's contract with what reads them, here so that meshctl
// (`stat`, `permissive disable`) reads them without linking the proxy's
// data path. pkg/proxy/telemetry writes them; docs/configuration.md lists
// their labels.
const (
	MetricRequestsTotal   = "mesh_proxy_requests_total"
	MetricRequestDuration = "mesh_proxy_request_duration_seconds"
	MetricTCPOpened       = "mesh_proxy_tcp_connections_total"
	MetricTCPActive       = "mesh_proxy_tcp_connections_active"
	MetricTCPBytes        = "mesh_proxy_tcp_bytes_total"
	// MetricHandshakes counts mutual TLS handshakes between proxies by
	// direction and result ("ok" or why it failed); next to
	// MetricRequestsTotal{tls="true"} it tells how well connections
	// between proxies are reused.
	MetricHandshakes        = "mesh_proxy_tls_handshakes_total"
	MetricHandshakeDuration = "mesh_proxy_tls_handshake_duration_seconds"
	// MetricDenied counts what the mesh refused: inbound, what its policy
	// refused (HTTP requests answered 403, connections closed before the
	// app is dialed or when a new policy revokes them), by caller (peer:
	// ns/sa, or "" for plain text) and the policy's reason; outbound,
	// connections to destinations outside the mesh while egress is off.
	MetricDenied = "mesh_proxy_authz_denied_total"
	// MetricBuildInfo is 1, labelled with the build's version, commit and
	// Go version, so a query can join any series to the build that made it.
	MetricBuildInfo = "mesh_proxy_build_info"
)
