package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Explanation is what `meshctl policy explain` shows: the decision, which
// is exactly the proxy's (HTTP or TCP computes it), and every TrafficTarget
// rule and IngressBackend that was looked at, with why it did or did not
// allow. It allocates freely; the proxy never calls it.
type Explanation struct {
	// Decision is the evaluator's decision.
	Decision Decision `json:"decision"`
	// Path is the normalized path the rules saw (HTTP only).
	Path string `json:"path,omitempty"`
	// Host is the normalized host (HTTP only).
	Host string `json:"host,omitempty"`
	// Steps are the objects considered, in evaluation order.
	Steps []Step `json:"steps"`
}

// Step is one object the evaluator considered.
type Step struct {
	// Kind is KindTrafficTarget, KindIngressBackend, or "permissive".
	Kind string `json:"kind"`
	// Name is the object's "namespace/name".
	Name string `json:"name,omitempty"`
	// Rule is the TrafficTarget rule's index in spec.rules.
	Rule int `json:"rule"`
	// Route is the rule's route kind and name, or the IngressBackend's
	// backend.
	Route string `json:"route,omitempty"`
	// Allows says whether this step allows the request.
	Allows bool `json:"allows"`
	// Why is a sentence for a person.
	Why string `json:"why"`
}

// ExplainHTTP explains HTTP(r).
func (p *Policy) ExplainHTTP(r *Request) Explanation {
	e := Explanation{Decision: p.HTTP(r), Host: NormalizeHost(r.Host)}
	if p.Permissive {
		e.Steps = append(e.Steps, Step{Kind: "permissive", Allows: true, Why: "the mesh is in permissive mode: every request is allowed"})
		return e
	}
	path, bad := NormalizePath(r.Target)
	if bad != "" {
		e.Steps = append(e.Steps, Step{Kind: "path", Why: fmt.Sprintf("request-target %q does not normalize: %s", r.Target, bad)})
		return e
	}
	e.Path = path
	p.explainTargets(&e, r.Source, r.Port, func(rule *Rule) (bool, string) {
		if rule.Kind == KindTCP {
			if rule.TCP.allows(r.Port) {
				return true, fmt.Sprintf("TCPRoute allows port %d", r.Port)
			}
			return false, fmt.Sprintf("TCPRoute ports %v exclude port %d", rule.TCP.Ports, r.Port)
		}
		if len(rule.HTTP) == 0 {
			return false, "the rule has no match that compiled"
		}
		var whys []string
		for i := range rule.HTTP {
			m := &rule.HTTP[i]
			switch m.test(r, path) {
			case matched:
				return true, fmt.Sprintf("match %q matches", m.Name)
			case wrongMethod:
				whys = append(whys, fmt.Sprintf("match %q: method %q is not in %v", m.Name, r.Method, m.Methods))
			case wrongPath:
				whys = append(whys, fmt.Sprintf("match %q: path %q does not wholly match %q", m.Name, path, m.PathRegex.String()))
			case wrongHeader:
				whys = append(whys, fmt.Sprintf("match %q: %s", m.Name, m.headerWhy(r)))
			}
		}
		return false, strings.Join(whys, "; ")
	})
	p.explainIngress(&e, r.Source, r.SourceIP, r.Port, true)
	return e
}

// ExplainTCP explains TCP(src, ip, port).
func (p *Policy) ExplainTCP(src identity.ID, ip netip.Addr, port uint16) Explanation {
	e := Explanation{Decision: p.TCP(src, ip, port)}
	if p.Permissive {
		e.Steps = append(e.Steps, Step{Kind: "permissive", Allows: true, Why: "the mesh is in permissive mode: every connection is allowed"})
		return e
	}
	p.explainTargets(&e, src, port, func(rule *Rule) (bool, string) {
		if rule.Kind != KindTCP {
			return false, "an HTTPRouteGroup rule allows HTTP requests, not opaque TCP"
		}
		if rule.TCP.allows(port) {
			return true, fmt.Sprintf("TCPRoute allows port %d", port)
		}
		return false, fmt.Sprintf("TCPRoute ports %v exclude port %d", rule.TCP.Ports, port)
	})
	p.explainIngress(&e, src, ip, port, false)
	return e
}

func (p *Policy) explainTargets(e *Explanation, src identity.ID, port uint16, rule func(*Rule) (bool, string)) {
	for ti := range p.Targets {
		t := &p.Targets[ti]
		step := Step{Kind: KindTrafficTarget, Name: t.Name}
		switch {
		case src.IsZero():
			step.Why = "the caller has no mesh identity (plain text)"
		case !containsID(t.Sources, src):
			step.Why = fmt.Sprintf("sources do not include %s", src)
		case t.Port != 0 && t.Port != port:
			step.Why = fmt.Sprintf("applies to port %d only", t.Port)
		case len(t.Rules) == 0:
			step.Why = "no rules: a TrafficTarget without rules allows nothing"
		default:
			for ri := range t.Rules {
				r := &t.Rules[ri]
				s := step
				s.Rule = r.Index
				s.Route = string(r.Kind) + "/" + r.Name
				s.Allows, s.Why = rule(r)
				e.Steps = append(e.Steps, s)
			}
			continue
		}
		e.Steps = append(e.Steps, step)
	}
	if len(p.Targets) == 0 {
		e.Steps = append(e.Steps, Step{Kind: KindTrafficTarget, Why: fmt.Sprintf("no TrafficTarget names %s as its destination", p.Destination)})
	}
}

func (p *Policy) explainIngress(e *Explanation, src identity.ID, ip netip.Addr, port uint16, http bool) {
	for i := range p.Ingress {
		in := &p.Ingress[i]
		why := in.admits(src, ip, port, http)
		s := Step{Kind: KindIngressBackend, Name: in.Name, Route: in.Backend, Allows: why == "", Why: why}
		if s.Allows {
			s.Why = fmt.Sprintf("backend %s admits %s", in.Backend, ip)
		}
		e.Steps = append(e.Steps, s)
	}
}

func (m *HTTPMatch) headerWhy(r *Request) string {
	for i := range m.Headers {
		h := &m.Headers[i]
		if h.test(r) {
			continue
		}
		if h.Value == nil {
			return fmt.Sprintf("header %s is missing", h.Name)
		}
		return fmt.Sprintf("header %s is missing or a value of it does not wholly match %q", h.Name, h.Value.String())
	}
	return "headers do not match"
}

func containsID(ids []identity.ID, id identity.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
