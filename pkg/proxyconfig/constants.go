// Package proxyconfig is THE definition of the sidecar proxy: its image, ports,
// user, interception exclusions, resources and arguments, derived from a
// MeshConfig spec plus per-workload annotations. The chart's defaults, the
// offline injector, the webhook, `meshctl check` and mesh-proxy itself (which
// parses the arguments written here) all read it from this package, so the
// writer and the reader of every setting are one piece of code.
package proxyconfig

import "github.com/meshctl/meshctl/pkg/version"

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

// Container names of the sidecar.
const (
	ProxyContainerName = "mesh-proxy"
	InitContainerName  = "mesh-proxy-init"
)

// ImageRepository is where the mesh-proxy image is published.
const ImageRepository = "ghcr.io/meshctl/mesh-proxy"

// DefaultImage is the proxy image that belongs to this meshctl build. One
// image serves both the init container (`mesh-proxy init`) and the proxy
// container (`mesh-proxy run`).
func DefaultImage() string { return ImageRepository + ":" + version.ImageTag() }
