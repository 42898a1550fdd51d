// Package proxyconfig is THE definition of the sidecar proxy: its image,
// containers, resources, interception exclusions and arguments, derived from
// a MeshConfig spec plus per-workload annotations. The chart's defaults, the
// offline injector, the webhook and `meshctl check` all read it from this
// package.
//
// What mesh-proxy itself reads (ports, user, admin paths, log levels, the
// argument and environment formats with their parsers) is defined in the
// Kubernetes-free sub-package wire, and everyone, the injector's side
// included, spells it wire.X: one fact, one name. The writer and the reader
// of every setting are one piece of code while the sidecar binary links none
// of client-go.
package proxyconfig

import (
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/version"
)

// Container names of the sidecar.
const (
	ProxyContainerName = "mesh-proxy"
	InitContainerName  = "mesh-proxy-init"
)

// ImageName is the mesh-proxy image's name in a registry.
const ImageName = "mesh-proxy"

// ImageRepository is where the mesh-proxy image is published.
const ImageRepository = meshconfig.DefaultImageRegistry + "/" + ImageName

// DefaultImage is the proxy image that belongs to this meshctl build. One
// image serves both the init container (`mesh-proxy init`) and the proxy
// container (`mesh-proxy run`).
func DefaultImage() string { return ImageRepository + ":" + version.ImageTag() }
