// Package inbound owns what happens to a request on its way into the pod:
// the bearer-token check (which the app's own kubelet probes skip, on the
// lean HTTP/1.1 path and the general one alike), recording its Authorization for propagation, and
// forwarding to the app on localhost.
package inbound

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// Authenticator checks a request; auth.Validator is the real one.
type Authenticator interface {
	// Check returns nil when r may pass.
	Check(r *http.Request) error
	// CheckAuthorization is Check for the value of a request's
	// Authorization header.
	CheckAuthorization(ctx context.Context, authorization string) error
	// Reject answers a request that did not pass.
	Reject(w http.ResponseWriter, err error)
	// Exempt reports whether a request with method, to the app's port,
	// with the raw path (the request target without its query) passes
	// without a check: one of the app's own kubelet probes.
	Exempt(method string, port uint16, path string) bool
}

// Authorizer decides on requests by the mesh's policy; authz.Authorizer
// is the real one.
type Authorizer interface {
	// HTTP decides, and counts a denial.
	HTTP(r policy.Request) policy.Decision
	// Allows is HTTP's answer, without counting.
	Allows(r policy.Request) bool
}

// LongAuthorizer decides on requests that may outlive the policy in
// force, and ends them (cancel) when a later one denies them;
// authz.Authorizer is one.
type LongAuthorizer interface {
	LongHTTP(r policy.Request, cancel func()) (d policy.Decision, untrack func())
}

// Forbidden is the body of a request the policy denies: it names no
// policy object, so a caller learns nothing of the rules by probing.
const Forbidden = "forbidden by the mesh's policy\n"

// Handler is the inbound HTTP pipeline after telemetry. Authz nil means no
// authorization; Auth nil means no token check; Store nil means no
// propagation.
type Handler struct {
	Authz   Authorizer
	Auth    Authenticator
	Store   *propagation.Store
	Forward http.Handler
	// ForwardH1 forwards requests of the lean HTTP/1.1 path; nil hands
	// them to the general one.
	ForwardH1 h1.Handler
}

// ServeHTTP authorizes, checks, records, forwards.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Authz != nil {
		var d policy.Decision
		if la, ok := h.Authz.(LongAuthorizer); ok && longLived(r) {
			// Cancelling the request's context ends it: the reverse
			// proxy closes an upgraded connection's upstream side, and
			// an HTTP/2 stream is reset.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			req := requestOf(r)
			r = r.WithContext(ctx)
			var untrack func()
			d, untrack = la.LongHTTP(req, cancel)
			defer untrack()
		} else {
			d = h.Authz.HTTP(requestOf(r))
		}
		if !d.Allow {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, Forbidden)
			return
		}
	}
	if h.Auth != nil && !h.exempt(r) {
		if err := h.Auth.Check(r); err != nil {
			h.Auth.Reject(w, err)
			return
		}
	}
	if tc, ok := propagation.TraceFrom(r.Context()); ok && h.Store != nil {
		// The entry stays while the app serves the request, then for
		// the store's TTL.
		h.Store.Begin(tc.TraceID, r.Header.Get("Authorization"))
		defer h.Store.End(tc.TraceID)
	}
	h.Forward.ServeHTTP(w, r)
}

// ServeH1 is ServeHTTP for the lean HTTP/1.1 path. A request that fails
// the check is handed off, so that ServeHTTP answers it with the one 401
// there is.
func (h *Handler) ServeH1(x *h1.Exchange) error {
	if h.ForwardH1 == nil {
		return h1.ErrHandoff
	}
	if h.Authz != nil {
		// A denied request is answered by ServeHTTP, which counts it.
		r := policy.Request{Source: x.Peer, SourceIP: x.Src.Addr().Unmap(), Port: x.Dst.Port(),
			Method: x.Method, Host: x.Host, Target: x.Target, Header: &x.Header}
		if !h.Authz.Allows(r) {
			return h1.ErrHandoff
		}
	}
	if h.Auth != nil && !h.Auth.Exempt(x.Method, x.Dst.Port(), x.Path()) {
		// More than one Authorization field: ServeHTTP refuses it too.
		if x.Header.Count("Authorization") > 1 {
			return h1.ErrHandoff
		}
		if err := h.Auth.CheckAuthorization(context.Background(), x.Header.Get("Authorization")); err != nil {
			return h1.ErrHandoff
		}
	}
	if x.Traced && h.Store != nil {
		h.Store.Begin(x.Trace.TraceID, x.Header.Get("Authorization"))
		defer h.Store.End(x.Trace.TraceID)
	}
	return h.ForwardH1.ServeH1(x)
}

// longLived: r may outlive the policy in force, an upgrade (a WebSocket)
// or an HTTP/2 stream (a gRPC stream, say). Plain HTTP/1 exchanges are
// decided again on their connection's next request.
func longLived(r *http.Request) bool {
	return r.ProtoMajor == 2 || (r.Header.Get("Upgrade") != "" && httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade"))
}

// requestOf is what the policy knows of r: the peer and destination the
// listener recorded, and the request as received (RequestURI, not the
// decoded URL.Path).
func requestOf(r *http.Request) policy.Request {
	peer, _ := listener.PeerFrom(r.Context())
	dst, _ := listener.DestinationFrom(r.Context())
	src, _ := netip.ParseAddrPort(r.RemoteAddr)
	return policy.Request{Source: peer.ID, SourceIP: src.Addr().Unmap(), Port: dst.Port(),
		Method: r.Method, Host: r.Host, Target: r.RequestURI, Header: policy.HeaderMap(r.Header)}
}

// exempt is Authenticator.Exempt for a request of the general path: the
// port it was sent to, as the listener recorded it, and its target as
// received (RequestURI, not the parsed URL, whose path is decoded), cut
// at the query. A request whose destination is unknown is never exempt.
func (h *Handler) exempt(r *http.Request) bool {
	dst, ok := listener.DestinationFrom(r.Context())
	if !ok {
		return false
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	return h.Auth.Exempt(r.Method, dst.Port(), path)
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
