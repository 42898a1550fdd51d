// Package inbound owns what happens to a request on its way into the pod:
// the bearer-token check, recording its Authorization for propagation, and
// forwarding to the app on localhost.
package inbound

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"

	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// Authenticator checks a request; auth.Validator is the real one.
type Authenticator interface {
	// Check returns nil when r may pass.
	Check(r *http.Request) error
	// Reject answers a request that did not pass.
	Reject(w http.ResponseWriter, err error)
}

// Handler is the inbound HTTP pipeline after telemetry. Auth nil means no
// token check; Store nil means no propagation.
type Handler struct {
	Auth    Authenticator
	Store   *propagation.Store
	Forward http.Handler
}

// ServeHTTP checks, records, forwards.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Auth != nil {
		if err := h.Auth.Check(r); err != nil {
			h.Auth.Reject(w, err)
			return
		}
	}
	if tc, ok := propagation.TraceFrom(r.Context()); ok && h.Store != nil {
		h.Store.Record(tc.TraceID, r.Header.Get("Authorization"))
	}
	h.Forward.ServeHTTP(w, r)
}

// Destination sends a redirected connection to the app: the original port
// on localhost. Connections to the proxy's own ports are refused, as they
// would loop back into the proxy.
func Destination(ownPorts ...uint16) func(dst netip.AddrPort) (netip.AddrPort, error) {
	return func(dst netip.AddrPort) (netip.AddrPort, error) {
		if slices.Contains(ownPorts, dst.Port()) {
			return netip.AddrPort{}, fmt.Errorf("connection to the proxy's own port %d would loop", dst.Port())
		}
		lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if dst.Addr().Is6() && !dst.Addr().Is4In6() {
			lo = netip.IPv6Loopback()
		}
		return netip.AddrPortFrom(lo, dst.Port()), nil
	}
}
