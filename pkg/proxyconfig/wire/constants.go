package wire

// Ports of the proxy. The admin port is never intercepted.
const (
	OutboundPort = 15001
	InboundPort  = 15003
	AdminPort    = 15000
)

// The proxy runs as this user and group; the interception rules exempt its
// traffic so the proxy's own upstream connections are not looped back to it.
const (
	ProxyUID = 1500
	ProxyGID = 1500
)

// Subcommands of mesh-proxy, the first argument of each sidecar container.
const (
	InitCommand = "init"
	RunCommand  = "run"
)

// Admin endpoints of the proxy, on AdminPort. The injector points the
// container's probes at them.
const (
	ReadyPath   = "/ready"
	LivePath    = "/live"
	MetricsPath = "/metrics"
	ConfigPath  = "/config"
	// StatusPath is the proxy's identity and channel state, as JSON, for
	// `meshctl proxy status`.
	StatusPath = "/status"
	// TapPath streams the proxy's requests as they happen (pkg/proxy/tap),
	// to the pod's loopback only, for `meshctl tap` and `meshctl top`.
	TapPath = "/tap"
)

// Where the injected pod spec mounts what the proxy needs for its identity:
// one projected volume with the ServiceAccount token for the mesh's
// audience (pkg/issuance.Audience), which the kubelet renews, and the
// trust bundle copied from the mesh-trust-bundle ConfigMap, which the
// kubelet keeps current, so an anchor rotation reaches running pods
// without a restart.
const (
	IdentityDir     = "/var/run/secrets/meshctl.io/identity"
	TokenFile       = "token"
	TrustBundleFile = "ca-bundle.crt"
	TokenPath       = IdentityDir + "/" + TokenFile
	TrustBundlePath = IdentityDir + "/" + TrustBundleFile
)
