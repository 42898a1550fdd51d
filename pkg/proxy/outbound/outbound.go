// Package outbound owns what happens to a request the app sends: adding
// the Authorization of the inbound request it belongs to (same trace), and
// forwarding to its original destination.
package outbound

import (
	"fmt"
	"net/http"
	"net/netip"

	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// Handler is the outbound HTTP pipeline after telemetry. Store nil means
// no propagation.
type Handler struct {
	Store   *propagation.Store
	Forward http.Handler
	// ForwardH1 forwards requests of the lean HTTP/1.1 path; nil hands
	// them to the general one.
	ForwardH1 h1.Handler
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

// ServeH1 is ServeHTTP for the lean HTTP/1.1 path.
func (h *Handler) ServeH1(x *h1.Exchange) error {
	if h.ForwardH1 == nil {
		return h1.ErrHandoff
	}
	if x.Traced && h.Store != nil && x.Header.Get("Authorization") == "" {
		if a, ok := h.Store.Lookup(x.Trace.TraceID); ok {
			x.Header.Set("Authorization", a)
		}
	}
	return h.ForwardH1.ServeH1(x)
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
