package proxyconfig

import (
	"net/url"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// HTTPProbesOf returns the httpGet probes (readiness, liveness and startup)
// of spec's app containers, as the kubelet sends them: the resolved port
// and the raw request path without its query. The app containers are the
// regular containers and the restartable init containers (sidecars the
// app brings), never the mesh's own. The result is sorted and without
// duplicates, so that equal pod specs give equal sidecars.
//
// A probe the proxy could not match exactly is left out rather than
// guessed at, and the pod then behaves as without the exemption (the
// kubelet's request needs a token it does not have):
//   - an HTTPS probe, whose path the proxy cannot see inside TLS;
//   - a probe with a host, which goes to that host rather than through
//     the pod's inbound proxy;
//   - a named port that the container does not declare: the kubelet
//     cannot resolve it either, and fails the probe;
//   - a path from which the kubelet would not send an origin-form target
//     (an absolute URL, or one without a leading "/").
func HTTPProbesOf(spec *corev1.PodSpec) []wire.Probe {
	var probes []wire.Probe
	add := func(c *corev1.Container) {
		for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if p == nil || p.HTTPGet == nil {
				continue
			}
			if pr, ok := httpProbe(c, p.HTTPGet); ok {
				probes = append(probes, pr)
			}
		}
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && !isMeshContainer(c.Name) {
			add(c)
		}
	}
	for i := range spec.Containers {
		if c := &spec.Containers[i]; !isMeshContainer(c.Name) {
			add(c)
		}
	}
	return wire.SortProbes(probes)
}

func isMeshContainer(name string) bool {
	return name == ProxyContainerName || name == InitContainerName
}

// httpProbe is one httpGet probe of container c as the kubelet sends it.
func httpProbe(c *corev1.Container, g *corev1.HTTPGetAction) (wire.Probe, bool) {
	if (g.Scheme != "" && g.Scheme != corev1.URISchemeHTTP) || g.Host != "" {
		return wire.Probe{}, false
	}
	port, ok := probePort(c, g.Port)
	if !ok {
		return wire.Probe{}, false
	}
	path, ok := probePath(g.Path)
	if !ok {
		return wire.Probe{}, false
	}
	return wire.Probe{Port: port, Path: path}, true
}

// probePort resolves a probe's port as the kubelet does: a number as it
// is, a name through the container's own ports.
func probePort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	n := p.IntVal
	if p.Type == intstr.String {
		i := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.StrVal })
		if i < 0 {
			return 0, false
		}
		n = c.Ports[i].ContainerPort
	}
	return n, n >= 1 && n <= 65535
}

// probePath is the raw request path the kubelet sends for a probe's path:
// it parses the path as a URL reference (falling back to the path as it is
// when that fails, as the kubelet does) and writes it as Go's HTTP client
// writes a request target, percent-encoding what needs it. The query is
// dropped: the proxy matches paths only. An empty path is "/", the API's
// default.
func probePath(path string) (string, bool) {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	if u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
		return "", false
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if wire.CheckProbePath(p) != nil {
		return "", false
	}
	return p, true
}

// WithExemptProbes returns c with probes as its JWT exemptions, when JWT
// validation is on, and as the probes its authorization lets through,
// when the proxy has identity; c itself when there are none or neither
// applies, so that such a workload keeps the mesh-wide sidecar (and its
// memoized rendering). c is not modified.
func (c *Config) WithExemptProbes(probes []wire.Probe) *Config {
	if (c.JWT == nil && c.Identity == nil) || len(probes) == 0 {
		return c
	}
	w := c.clone()
	sorted := wire.SortProbes(slices.Clone(probes))
	if w.JWT != nil {
		w.JWT.ExemptProbes = sorted
	}
	if w.Identity != nil {
		w.Identity.AppProbes = sorted
	}
	return w
}
