package auth

import (
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// probeKey is one exempt probe: the app port and the raw path.
type probeKey struct {
	port uint16
	path string
}

func probeSet(probes []wire.Probe) map[probeKey]struct{} {
	if len(probes) == 0 {
		return nil
	}
	m := make(map[probeKey]struct{}, len(probes))
	for _, p := range probes {
		m[probeKey{uint16(p.Port), p.Path}] = struct{}{}
	}
	return m
}

// Exempt reports whether a request passes without a token: it is one of
// the app's own kubelet probes (Options.ExemptProbes), which cannot carry
// one. It must be a GET or HEAD (what a probe sends; nothing that changes
// state) to the probe's port, with a raw request path (the target as sent,
// without its query) exactly equal to the probe's: no prefix, no decoding
// or cleaning, so "/healthz/x", "/healthz/" or "/%68ealthz" are not
// exempt. The app answers exactly what its probe endpoint answers anyone
// who can reach the pod without the mesh.
func (v *Validator) Exempt(method string, port uint16, path string) bool {
	if len(v.exempt) == 0 || (method != "GET" && method != "HEAD") {
		return false
	}
	_, ok := v.exempt[probeKey{port, path}]
	return ok
}
