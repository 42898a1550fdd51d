package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/crd"
	"github.com/meshctl/meshctl/pkg/proxy/authz"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/inbound"
	"github.com/meshctl/meshctl/pkg/proxy/listener"
)

// hundredTargetsPolicy is the destination's policy compiled from 100
// TrafficTargets on it, each from a ServiceAccount of its own over an
// HTTPRouteGroup of its own (a method and path; a method, path and
// Content-Type; a path and a tenant header, in turn), the caller named by
// the last one by name, whose second match allows POST of any path with
// Go's User-Agent: the shape of bench-proxy's authz row.
func hundredTargetsPolicy(b *testing.B, permissive bool, dst, caller identity.ID) *policy.Policy {
	meta := func(name string) crd.ObjectMeta { return crd.ObjectMeta{Name: name, Namespace: dst.Namespace()} }
	c := crd.Cluster{TrustDomain: identity.DefaultTrustDomain, Permissive: permissive}
	for i := range 100 {
		group := fmt.Sprintf("routes-%03d", i)
		src := crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: fmt.Sprintf("caller-%03d", i), Namespace: fmt.Sprintf("team-%02d", i%10)}
		var matches []crd.HTTPMatch
		switch i % 3 {
		case 0:
			matches = []crd.HTTPMatch{{Name: "read", Methods: []string{"GET", "HEAD"}, PathRegex: fmt.Sprintf(`/api/v1/items%03d/[0-9]+`, i)}}
		case 1:
			matches = []crd.HTTPMatch{{Name: "write", Methods: []string{"POST", "PUT"}, PathRegex: fmt.Sprintf(`/api/v1/items%03d(/.*)?`, i),
				Headers: map[string]string{"Content-Type": `application/json(;.*)?`}}}
		case 2:
			matches = []crd.HTTPMatch{{Name: "tenant", PathRegex: `/tenants/.*`, Headers: map[string]string{"X-Tenant": fmt.Sprintf(`tenant-%03d`, i)}}}
		}
		if i == 99 {
			src = crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: caller.ServiceAccount(), Namespace: caller.Namespace()}
			matches = []crd.HTTPMatch{
				{Name: "status", Methods: []string{"GET"}, PathRegex: `/status`},
				{Name: "load", Methods: []string{"POST"}, PathRegex: `/.*`, Headers: map[string]string{"User-Agent": `Go-http-client/1\.1`}},
			}
		}
		c.HTTPRouteGroups = append(c.HTTPRouteGroups, crd.HTTPRouteGroup{Metadata: meta(group), Spec: crd.HTTPRouteGroupSpec{Matches: matches}})
		c.TrafficTargets = append(c.TrafficTargets, crd.TrafficTarget{Metadata: meta(fmt.Sprintf("tt-%03d", i)), Spec: crd.TrafficTargetSpec{
			Destination: crd.IdentityBindingSubject{Kind: crd.KindServiceAccount, Name: dst.ServiceAccount(), Namespace: dst.Namespace()},
			Sources:     []crd.IdentityBindingSubject{src},
			Rules:       []crd.TrafficTargetRule{{Kind: crd.KindHTTPRouteGroup, Name: group}},
		}})
	}
	set, findings, err := crd.Compile(c)
	if err != nil || len(findings) > 0 {
		b.Fatalf("compiling 100 TrafficTargets: %v %v", err, findings)
	}
	p := set.For(dst)
	if len(p.Targets) != 100 || p.Permissive != permissive {
		b.Fatalf("the destination's policy has %d TrafficTargets, permissive %t", len(p.Targets), p.Permissive)
	}
	return p
}

// leanForward stands for the forwarder of the lean path: it counts the
// exchanges that reach it and commits none.
type leanForward struct{ n int }

func (f *leanForward) ServeH1(*h1.Exchange) error { f.n++; return nil }

// discardResponse is a ResponseWriter that keeps only the status.
type discardResponse struct {
	h      http.Header
	status int
}

func (w *discardResponse) Header() http.Header         { return w.h }
func (w *discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardResponse) WriteHeader(s int)           { w.status = s }

// BenchmarkAuthorizeHTTP measures inbound.Handler's decision on one
// request, the forwarder stood in for, without authorization and with
// authz.Authorizer holding 100 TrafficTargets on the destination (the
// caller named by the last): on the lean HTTP/1.1 path (ServeH1, which
// mesh TLS requests take) and on the general one (ServeHTTP, net/http's
// requests). An allowed request through the lean path allocates nothing;
// a denied one is handed off to ServeHTTP, which answers 403.
func BenchmarkAuthorizeHTTP(b *testing.B) {
	dst, err := identity.NewID(identity.DefaultTrustDomain, "shop", "store")
	if err != nil {
		b.Fatal(err)
	}
	caller, err := identity.NewID(identity.DefaultTrustDomain, "shop", "loadgen")
	if err != nil {
		b.Fatal(err)
	}
	strict := &authz.Authorizer{}
	strict.Set(hundredTargetsPolicy(b, false, dst, caller))
	permissive := &authz.Authorizer{}
	permissive.Set(hundredTargetsPolicy(b, true, dst, caller))
	const head = "POST /books/42?currency=eur HTTP/1.1\r\nHost: store.shop:8080\r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: 1024\r\nAccept: */*\r\n\r\n"
	src := netip.MustParseAddrPort("198.18.0.10:40000")
	to := netip.MustParseAddrPort("198.18.0.20:8080")

	for _, c := range []struct {
		name   string
		authz  inbound.Authorizer
		target string
		allow  bool
	}{
		{"no-authz", nil, "", true},
		{"permissive", permissive, "", true},
		{"100-targets-allow", strict, "", true},
		// The caller's rule allows POST of any path, and GET of
		// /status only.
		{"100-targets-deny", strict, "GET /admin/x", false},
	} {
		h := head
		if c.target != "" {
			h = strings.Replace(head, "POST /books/42?currency=eur", c.target, 1)
		}
		b.Run("lean/"+c.name, func(b *testing.B) {
			fwd := &leanForward{}
			in := &inbound.Handler{Authz: c.authz, ForwardH1: fwd}
			x := h1.Exchange{Dst: to, Src: src, In: bufio.NewReader(strings.NewReader(h)), Peer: caller, PeerName: caller.Short(), MTLS: true}
			if err := h1.PeekRequest(x.In, &x.Request); err != nil {
				b.Fatal(err)
			}
			err := in.ServeH1(&x)
			if allowed := err == nil && fwd.n == 1; allowed != c.allow || !c.allow && !errors.Is(err, h1.ErrHandoff) {
				b.Fatalf("ServeH1: %v, forwarded %d; want allowed %t (a denial handed off)", err, fwd.n, c.allow)
			}
			b.ReportAllocs()
			for b.Loop() {
				in.ServeH1(&x)
			}
		})
		b.Run("general/"+c.name, func(b *testing.B) {
			reached := 0
			in := &inbound.Handler{Authz: c.authz, Forward: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ })}
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(h)))
			if err != nil {
				b.Fatal(err)
			}
			r.RemoteAddr = src.String()
			r = r.WithContext(listener.WithPeer(listener.WithDestination(context.Background(), to), listener.NewPeer(caller)))
			w := &discardResponse{h: http.Header{}}
			in.ServeHTTP(w, r)
			if allowed := reached == 1 && w.status == 0; allowed != c.allow || !c.allow && w.status != http.StatusForbidden {
				b.Fatalf("ServeHTTP: status %d, forwarded %d; want allowed %t (403 if not)", w.status, reached, c.allow)
			}
			b.ReportAllocs()
			for b.Loop() {
				in.ServeHTTP(w, r)
			}
		})
	}
}
