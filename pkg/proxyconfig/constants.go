// Package proxyconfig is THE definition of the sidecar proxy: its image,
// containers, resources, interception exclusions and arguments, derived from
// a MeshConfig spec plus per-workload annotations. The chart's defaults, the
// offline injector, the webhook and `meshctl check` all read it from this
// package.
//
// What mesh-proxy itself reads (ports, user, admin paths, log levels, the
// argument and environment formats with their parsers) is defined in the
// Kubernetes-free sub-package wire and re-exported here where the injector's
// side needs it, so the writer and the reader of every setting are still one
// piece of code while the sidecar binary links none of client-go.
package proxyconfig

import (
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/version"
)

// Ports of the proxy, defined in wire. The admin port is never intercepted.
const (
	OutboundPort = wire.OutboundPort
	InboundPort  = wire.InboundPort
	AdminPort    = wire.AdminPort
)

// The proxy's user and group, defined in wire; the interception rules exempt
// its traffic so the proxy's own upstream connections are not looped back
// to it.
const (
	ProxyUID = wire.ProxyUID
	ProxyGID = wire.ProxyGID
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
