package channel

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Index answers, for every outbound connection, where it goes and whom it
// must reach, from one Snapshot. It is immutable once built, except for
// the round-robin counters, and safe for concurrent use: a proxy builds a
// new Index per snapshot and swaps it in atomically (STYLE 28).
type Index struct {
	pods     map[netip.Addr]podEntry
	services map[netip.AddrPort]*serviceEntry
}

type podEntry struct {
	id     identity.ID
	bypass []uint16 // sorted
}

// serviceEntry is one Service port on one cluster IP.
type serviceEntry struct {
	// next picks the backend. Every cluster IP and port of a Service has
	// its own counter, started at a random place so that proxies that got
	// the same snapshot at the same moment do not all begin with the same
	// endpoint.
	next     atomic.Uint32
	backends []backend
}

type backend struct {
	addr netip.AddrPort
	id   identity.ID // zero: plain text
}

// NewIndex builds the index of s. A Service's cluster IP leads to the
// endpoints of its own IP family; one without a ready endpoint of its
// family is left out: its address is unknown to the mesh.
func NewIndex(s *Snapshot) *Index {
	c := &s.Content
	x := &Index{
		pods:     make(map[netip.Addr]podEntry, len(c.Pods)),
		services: make(map[netip.AddrPort]*serviceEntry),
	}
	for i, p := range c.Pods {
		e := podEntry{id: s.ids[i], bypass: p.BypassPorts}
		for _, ip := range p.IPs {
			x.pods[ip] = e
		}
	}
	for _, svc := range c.Services {
		for _, sp := range svc.Ports {
			for _, ip := range svc.IPs {
				// A cluster IP leads to endpoints of its own family, as
				// kube-proxy routes it.
				var backends []backend
				for _, ep := range sp.Endpoints {
					if ep.Addr().Is4() == ip.Is4() {
						_, id, _ := x.resolvePod(ep)
						backends = append(backends, backend{addr: ep, id: id})
					}
				}
				if len(backends) == 0 {
					continue
				}
				e := &serviceEntry{backends: backends}
				e.next.Store(rand.Uint32())
				x.services[netip.AddrPortFrom(ip, sp.Port)] = e
			}
		}
	}
	return x
}

// Resolve says where a connection to dst goes and whom it must reach.
// ok false: dst is unknown to the mesh (dial dst in plain text, as today).
// ok true, id zero: dst (or the endpoint chosen for it) is not meshed, or
// its port bypasses the proxy: dial addr in plain text.
// ok true, id set: dial addr with mutual TLS and require exactly id.
//
// A pod IP resolves to itself. A Service's cluster IP and port resolve to
// one of its ready endpoints, in turn, with the Service port mapped to the
// endpoint's target port; a Service without a ready endpoint is unknown.
// An IPv4-mapped IPv6 dst is taken as the IPv4 address. A nil Index (no
// snapshot yet) knows nothing. Resolve allocates nothing.
func (x *Index) Resolve(dst netip.AddrPort) (addr netip.AddrPort, id identity.ID, ok bool) {
	if x == nil {
		return dst, identity.ID{}, false
	}
	if dst.Addr().Is4In6() {
		dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	}
	if e := x.services[dst]; e != nil {
		b := &e.backends[(e.next.Add(1)-1)%uint32(len(e.backends))]
		return b.addr, b.id, true
	}
	return x.resolvePod(dst)
}

func (x *Index) resolvePod(dst netip.AddrPort) (netip.AddrPort, identity.ID, bool) {
	p, ok := x.pods[dst.Addr()]
	if !ok {
		return dst, identity.ID{}, false
	}
	if _, bypass := slices.BinarySearch(p.bypass, dst.Port()); bypass {
		return dst, identity.ID{}, true
	}
	return dst, p.id, true
}

// InMesh reports whether dst is in the mesh: a meshed pod's IP (on any
// port, skipped ones included), or a Service address whose every
// endpoint is one. A Service with an endpoint elsewhere is not: anyone
// who may write a selector-less Service and its EndpointSlice could
// otherwise point one at any address and open egress through it. Unlike
// Resolve it moves no round-robin counter. A nil Index knows nothing.
func (x *Index) InMesh(dst netip.AddrPort) bool {
	if x == nil {
		return false
	}
	if dst.Addr().Is4In6() {
		dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	}
	if e := x.services[dst]; e != nil {
		for _, b := range e.backends {
			if _, ok := x.pods[b.addr.Addr()]; !ok {
				return false
			}
		}
		return true
	}
	_, ok := x.pods[dst.Addr()]
	return ok
}

// Len is the number of pod IPs and of Service addresses (cluster IP and
// port) the index knows.
func (x *Index) Len() (podIPs, serviceAddrs int) {
	if x == nil {
		return 0, 0
	}
	return len(x.pods), len(x.services)
}
