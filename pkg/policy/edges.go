package policy

import (
	"net/netip"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Edge is one grant of a Set, for `meshctl policy list` (who may reach
// whom) and `meshctl check` (destinations nothing may reach).
type Edge struct {
	// Destination is the identity reached.
	Destination identity.ID `json:"destination"`
	// Source is the identity allowed; zero for an IngressBackend's IP
	// ranges.
	Source identity.ID `json:"source,omitzero"`
	// IPRanges are the IngressBackend's address ranges, when Source is
	// zero.
	IPRanges []netip.Prefix `json:"ipRanges,omitempty"`
	// Kind and Name are the object that grants: KindTrafficTarget or
	// KindIngressBackend, and its "namespace/name".
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Port is the only destination port, when the object names one (a
	// TrafficTarget's destination.port, an IngressBackend's backend).
	Port uint16 `json:"port,omitempty"`
	// Routes are the rules' routes ("HTTPRouteGroup/name[match,...]",
	// "TCPRoute/name"), or the IngressBackend's backend and protocol.
	Routes []string `json:"routes"`
}

// Edges lists every grant of s, by destination, then object, then
// source, in the Set's order. A TrafficTarget whose rules allow nothing
// (none, or none that compiled) grants nothing and is not listed.
func (s *Set) Edges() []Edge {
	var out []Edge
	for i := range s.Policies {
		p := &s.Policies[i]
		for _, t := range p.Targets {
			var routes []string
			for _, r := range t.Rules {
				if route, ok := r.route(); ok {
					routes = append(routes, route)
				}
			}
			if len(routes) == 0 {
				continue
			}
			for j, src := range t.Sources {
				if containsID(t.Sources[:j], src) {
					continue
				}
				out = append(out, Edge{Destination: p.Destination, Source: src, Kind: KindTrafficTarget, Name: t.Name, Port: t.Port, Routes: routes})
			}
		}
		for _, in := range p.Ingress {
			routes := []string{in.Backend + "/" + string(in.Protocol)}
			if len(in.IPRanges) > 0 {
				out = append(out, Edge{Destination: p.Destination, IPRanges: in.IPRanges, Kind: KindIngressBackend, Name: in.Name, Port: in.Port, Routes: routes})
			}
			for _, src := range in.Sources {
				out = append(out, Edge{Destination: p.Destination, Source: src, Kind: KindIngressBackend, Name: in.Name, Port: in.Port, Routes: routes})
			}
		}
	}
	return out
}

// route names what a rule allows, and whether it allows anything.
func (r *Rule) route() (string, bool) {
	if r.Kind == KindTCP {
		return "TCPRoute/" + r.Name, r.TCP != nil
	}
	if len(r.HTTP) == 0 {
		return "", false
	}
	s := "HTTPRouteGroup/" + r.Name + "["
	for i, m := range r.HTTP {
		if i > 0 {
			s += ","
		}
		s += m.Name
	}
	return s + "]", true
}

// MayReach says whether, with permissive mode off, anything would let src
// reach p's destination: some TrafficTarget naming it with a rule that can
// match, or an IngressBackend naming it. It ignores Permissive: it is the
// question `meshctl permissive disable` asks of every edge the proxies
// have seen, before it turns permissive mode off.
func (p *Policy) MayReach(src identity.ID) bool {
	if src.IsZero() {
		return false
	}
	for _, g := range p.bySource[src.String()] {
		if _, ok := p.Targets[g.target].Rules[g.rule].route(); ok {
			return true
		}
	}
	for _, in := range p.Ingress {
		if containsID(in.Sources, src) {
			return true
		}
	}
	return false
}
