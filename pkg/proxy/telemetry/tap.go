package telemetry

import (
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
)

// publish hands the request to the tap, which somebody listens to. It
// runs only then: the peer's identity and the escaped path are looked up
// here rather than for every request.
func (h *HTTP) publish(status int, r *record) {
	e := tap.Event{
		Time: r.start, Direction: h.Direction, Method: r.method, Authority: r.authority, Path: r.path,
		Status: status, Latency: r.total, TLS: r.mtls,
	}
	peer := r.peerID
	if r.req != nil {
		// As the client sent it, as on the lean path: the decoded path
		// may hold control characters a terminal would obey.
		e.Path = r.req.URL.EscapedPath()
		if p, ok := listener.PeerFrom(r.req.Context()); ok {
			peer = p.ID
		}
	}
	if r.mtls {
		e.Source, e.Destination = ends(h.Inbound, peer, h.Tap.Self)
	}
	h.Tap.Publish(e)
}

// ends are the source and destination of a mutual TLS request: the peer
// calls this proxy inbound, and is called outbound.
func ends(inbound bool, peer identity.ID, self string) (src, dst string) {
	if inbound {
		return peer.String(), self
	}
	return self, peer.String()
}
