package policy

import (
	"net/netip"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Reason is a decision's short reason, a closed set: the access log's
// field and the metrics' label.
type Reason string

// The reasons.
const (
	// ReasonPermissive: allowed, the mesh is permissive.
	ReasonPermissive Reason = "permissive"
	// ReasonTrafficTarget: allowed by a TrafficTarget's rule.
	ReasonTrafficTarget Reason = "traffic-target"
	// ReasonIngressBackend: allowed by an IngressBackend.
	ReasonIngressBackend Reason = "ingress-backend"
	// ReasonNoIdentity: denied, the caller has no mesh identity (plain
	// text) and no IngressBackend lets its address reach this port.
	ReasonNoIdentity Reason = "no-identity"
	// ReasonSourceNotAllowed: denied, no TrafficTarget on this
	// destination and port names the caller's identity.
	ReasonSourceNotAllowed Reason = "source-not-allowed"
	// ReasonNoRuleMatched: denied, TrafficTargets name the caller, but
	// none of their rules matches the request.
	ReasonNoRuleMatched Reason = "no-rule-matched"
	// ReasonInvalidPath: denied, the request-target cannot be normalized
	// (NormalizePath).
	ReasonInvalidPath Reason = "invalid-path"
	// ReasonInvalidMethod: denied, the method is not one the proxy takes
	// for HTTP (IsHTTPMethod).
	ReasonInvalidMethod Reason = "invalid-method"
)

// Kinds of policy object a Decision names.
const (
	KindTrafficTarget  = "TrafficTarget"
	KindIngressBackend = "IngressBackend"
)

// Decision is the evaluator's answer. Its strings point into the Policy,
// so making one allocates nothing.
type Decision struct {
	// Allow says whether the request or connection may go on.
	Allow bool `json:"allow"`
	// Reason is why, in a word.
	Reason Reason `json:"reason"`
	// Kind is the kind of object that allowed (KindTrafficTarget or
	// KindIngressBackend); "" when none did.
	Kind string `json:"kind,omitempty"`
	// Name is that object's "namespace/name".
	Name string `json:"name,omitempty"`
	// Rule is the index in the TrafficTarget's spec.rules of the rule
	// that allowed (with KindTrafficTarget; 0 otherwise). Always encoded:
	// rule 0 is a rule.
	Rule int `json:"rule"`
	// Match is the name of the HTTPRouteGroup or TCPRoute match that
	// allowed, if it has one; with KindIngressBackend, the backend
	// ("service:port").
	Match string `json:"match,omitempty"`
}

// Request is what the evaluator knows of an HTTP request.
type Request struct {
	// Source is the caller's identity, verified by mutual TLS; the zero
	// ID for plain text. Never take it from a header.
	Source identity.ID
	// SourceIP is the caller's address as the connection shows it.
	SourceIP netip.Addr
	// Port is the destination port the connection was made to (the
	// pod's port, the original destination).
	Port uint16
	// Method is the request method, as sent.
	Method string
	// Host is the Host header (or :authority), as sent.
	Host string
	// Target is the request-target as sent: path, maybe a query.
	Target string
	// Header gives the request's fields; nil has none.
	Header Headers
}

// HTTP decides on one HTTP request to p's destination. On a kept-alive
// connection every request is decided anew. It allocates nothing when the
// request's path and host are already normal (NormalizePath,
// NormalizeHost).
//
// The order: permissive allows everything; a request-target that does not
// normalize is denied; a TrafficTarget rule naming the caller's identity
// that matches allows (the first in Targets order, then rule order);
// else an IngressBackend backend on this port, for HTTP, naming the
// caller's address or identity, allows; else it is denied.
func (p *Policy) HTTP(r *Request) Decision {
	if p.Permissive {
		return Decision{Allow: true, Reason: ReasonPermissive}
	}
	if !IsHTTPMethod(r.Method) {
		return Decision{Reason: ReasonInvalidMethod}
	}
	path, bad := NormalizePath(r.Target)
	if bad != "" {
		return Decision{Reason: bad}
	}
	named := false
	if !r.Source.IsZero() {
		for _, g := range p.bySource[r.Source.String()] {
			t := &p.Targets[g.target]
			if t.Port != 0 && t.Port != r.Port {
				continue
			}
			named = true
			rule := &t.Rules[g.rule]
			if m, ok := rule.matchHTTP(r, path); ok {
				return Decision{Allow: true, Reason: ReasonTrafficTarget, Kind: KindTrafficTarget, Name: t.Name, Rule: rule.Index, Match: m}
			}
		}
	}
	if d, ok := p.ingress(r.Source, r.SourceIP, r.Port, true); ok {
		return d
	}
	return deny(r.Source, named)
}

// TCP decides on one opaque TCP connection to p's destination, before
// any of its bytes reaches the app: only TCPRoute rules and tcp
// IngressBackends allow one. It allocates nothing.
func (p *Policy) TCP(src identity.ID, ip netip.Addr, port uint16) Decision {
	if p.Permissive {
		return Decision{Allow: true, Reason: ReasonPermissive}
	}
	named := false
	if !src.IsZero() {
		for _, g := range p.bySource[src.String()] {
			t := &p.Targets[g.target]
			if t.Port != 0 && t.Port != port {
				continue
			}
			named = true
			rule := &t.Rules[g.rule]
			if rule.Kind == KindTCP && rule.TCP.allows(port) {
				return Decision{Allow: true, Reason: ReasonTrafficTarget, Kind: KindTrafficTarget, Name: t.Name, Rule: rule.Index, Match: rule.TCP.Name}
			}
		}
	}
	if d, ok := p.ingress(src, ip, port, false); ok {
		return d
	}
	return deny(src, named)
}

// MayConnect says whether anything could allow a connection from src (or
// ip) to port: an opaque TCP connection, or some HTTP request on it. The
// proxy asks it as soon as it knows the caller (after the mutual-TLS
// handshake, or at accept for plain text), before it dials the app or
// waits for the first bytes, and closes a connection that nothing could
// allow. It allocates nothing.
func (p *Policy) MayConnect(src identity.ID, ip netip.Addr, port uint16) bool {
	if p.Permissive {
		return true
	}
	if !src.IsZero() {
		for _, g := range p.bySource[src.String()] {
			t := &p.Targets[g.target]
			if t.Port != 0 && t.Port != port {
				continue
			}
			rule := &t.Rules[g.rule]
			if rule.Kind == KindHTTP && len(rule.HTTP) > 0 || rule.Kind == KindTCP && rule.TCP.allows(port) {
				return true
			}
		}
	}
	_, ok := p.ingress(src, ip, port, true)
	return ok
}

func deny(src identity.ID, named bool) Decision {
	switch {
	case src.IsZero():
		return Decision{Reason: ReasonNoIdentity}
	case named:
		return Decision{Reason: ReasonNoRuleMatched}
	}
	return Decision{Reason: ReasonSourceNotAllowed}
}

// ingress finds the first IngressBackend backend that lets src or ip
// reach port.
func (p *Policy) ingress(src identity.ID, ip netip.Addr, port uint16, http bool) (Decision, bool) {
	for i := range p.Ingress {
		in := &p.Ingress[i]
		if in.admits(src, ip, port, http) == "" {
			return Decision{Allow: true, Reason: ReasonIngressBackend, Kind: KindIngressBackend, Name: in.Name, Match: in.Backend}, true
		}
	}
	return Decision{}, false
}

// admits says why in does not let src or ip reach port, or "" if it does.
func (in *Ingress) admits(src identity.ID, ip netip.Addr, port uint16, http bool) string {
	if in.Port != port {
		return "backend port is not the destination port"
	}
	if !http && in.Protocol != ProtocolTCP {
		return "backend protocol is http, the connection is not HTTP"
	}
	// A dual-stack socket shows an IPv4 caller as ::ffff:a.b.c.d, which
	// no IPv4 range contains.
	ip = ip.Unmap()
	for _, r := range in.IPRanges {
		if r.Contains(ip) {
			return ""
		}
	}
	if !src.IsZero() {
		for _, id := range in.Sources {
			if id == src {
				return ""
			}
		}
	}
	return "neither the source address nor its identity is listed"
}

// mismatch says which part of a request an HTTP match did not match.
type mismatch int

const (
	matched mismatch = iota
	wrongMethod
	wrongPath
	wrongHeader
)

// matchHTTP finds the rule's first match that matches r, with the
// normalized path.
func (rule *Rule) matchHTTP(r *Request, path string) (string, bool) {
	if rule.Kind == KindTCP {
		return rule.TCP.Name, rule.TCP.allows(r.Port)
	}
	for i := range rule.HTTP {
		if m := &rule.HTTP[i]; m.test(r, path) == matched {
			return m.Name, true
		}
	}
	return "", false
}

// test compares r with m: method, then path, then headers.
func (m *HTTPMatch) test(r *Request, path string) mismatch {
	ok := false
	for _, meth := range m.Methods {
		if meth == "*" || meth == r.Method {
			ok = true
			break
		}
	}
	if !ok {
		return wrongMethod
	}
	if m.PathRegex != nil && !m.PathRegex.Match(path) {
		return wrongPath
	}
	for i := range m.Headers {
		if !m.Headers[i].test(r) {
			return wrongHeader
		}
	}
	return matched
}

// test says whether r carries the header h asks for: the normalized host
// for Host, else at least one field and every field matching.
func (h *HeaderMatch) test(r *Request) bool {
	if h.Name == "Host" {
		return h.Value == nil || h.Value.Match(NormalizeHost(r.Host))
	}
	if r.Header == nil {
		return false
	}
	n := 0
	for ; ; n++ {
		v, ok := r.Header.Field(h.Name, n)
		if !ok {
			break
		}
		// Every field must match: a second field with another value
		// must not ride on the first, whichever of them the app reads.
		if h.Value != nil && !h.Value.Match(v) {
			return false
		}
	}
	return n > 0
}

// allows says whether the TCP match allows port.
func (m *TCPMatch) allows(port uint16) bool {
	if m.AnyPort {
		return true
	}
	for _, p := range m.Ports {
		if p == port {
			return true
		}
	}
	return false
}
