// Package outbound owns what happens to a request the app sends: adding
// the Authorization of the inbound request it belongs to (same trace), and
// forwarding to its original destination.
package outbound

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// Handler is the outbound HTTP pipeline after telemetry. Store nil means
// no propagation.
type Handler struct {
	Store   *propagation.Store
	Forward http.Handler
}

// ServeHTTP adds the propagated header when there is one, and forwards.
// A request with no trace context, or one the store does not know, goes
// out unchanged; it is never refused. A header the app set itself wins.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if tc, ok := propagation.TraceFrom(r.Context()); ok && h.Store != nil && r.Header.Get("Authorization") == "" {
		if a, ok := h.Store.Lookup(tc.TraceID); ok {
			r.Header.Set("Authorization", a)
		}
	}
	h.Forward.ServeHTTP(w, r)
}

// Destination checks the original destination of an outbound connection:
// one that was not redirected (its original destination is the listener
// itself) is refused, as proxying it would loop.
func Destination(dst, local netip.AddrPort) (netip.AddrPort, error) {
	// A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6.
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	if dst == netip.AddrPortFrom(local.Addr().Unmap(), local.Port()) {
		return netip.AddrPort{}, fmt.Errorf("connection to the outbound listener %s was not redirected; refusing to loop", local)
	}
	return dst, nil
}
