package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/textproto"
	"slices"

	"github.com/meshctl/meshctl/pkg/identity"
)

// Limits bound what a Set may hold, so that a decoder given a hostile or
// broken snapshot spends bounded time compiling it. The defaults
// (DefaultLimits) follow the CRDs' own bounds where they have one.
type Limits struct {
	// Policies per Set: destination identities.
	Policies int
	// Targets per Policy: TrafficTargets naming one destination.
	Targets int
	// Sources per Target, and per Ingress.
	Sources int
	// Rules per Target.
	Rules int
	// Matches per rule.
	Matches int
	// Methods per match.
	Methods int
	// Headers per match.
	Headers int
	// Ports per TCP match.
	Ports int
	// Ingress backends per Policy.
	Ingress int
	// IPRanges per Ingress.
	IPRanges int
	// Regexes per Set, each at most MaxRegexLen bytes.
	Regexes int
}

// DefaultLimits are the limits of a Set the proxy accepts: the CRDs' list
// bounds (256 sources, rules and matches, 16 methods), and room for ten
// thousand destinations.
func DefaultLimits() Limits {
	return Limits{
		Policies: 10000,
		Targets:  1024,
		Sources:  256,
		Rules:    256,
		Matches:  256,
		Methods:  16,
		Headers:  32,
		Ports:    256,
		Ingress:  1024,
		IPRanges: 256,
		Regexes:  50000,
	}
}

// maxName is a namespace (63), '/', and an object name (253).
const maxName = 63 + 1 + 253

// DecodeSet decodes a Set from its JSON (the channel's policy.v1) and
// validates it (NewSet). Fields it does not know are ignored, so a newer
// controller can add some.
func DecodeSet(data []byte, lim Limits) (*Set, error) {
	var s Set
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&s); err != nil {
		return nil, fmt.Errorf("policy set: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("policy set: data after the object")
	}
	return NewSet(s.Permissive, s.Policies, lim)
}

// DecodeFor is DecodeSet for one destination, as a proxy needs it: it
// decodes and compiles only self's policy, not the whole mesh's, so a
// namespace that writes many or costly rules for its own workloads costs
// every other proxy nothing but the bytes. The set's shape is checked as
// DecodeSet checks it: the policy count, the destinations sorted and
// distinct, each policy's permissive mode the set's.
func DecodeFor(data []byte, self identity.ID, lim Limits) (*Policy, error) {
	var raw struct {
		Permissive bool              `json:"permissive"`
		Policies   []json.RawMessage `json:"policies"`
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(&raw); err != nil {
		return nil, fmt.Errorf("policy set: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("policy set: data after the object")
	}
	if len(raw.Policies) > lim.Policies {
		return nil, fmt.Errorf("policy set: %d policies, the most is %d", len(raw.Policies), lim.Policies)
	}
	var mine []Policy
	prev := ""
	for i, b := range raw.Policies {
		var head struct {
			Destination identity.ID `json:"destination"`
			Permissive  bool        `json:"permissive"`
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("policy set: policy %d: %w", i, err)
		}
		dst := head.Destination.String()
		switch {
		case head.Destination.IsZero():
			return nil, fmt.Errorf("policy set: policy %d has no destination", i)
		case i > 0 && dst <= prev:
			return nil, fmt.Errorf("policy set: policy for %q: not sorted by destination, or listed twice", dst)
		case head.Permissive != raw.Permissive:
			return nil, fmt.Errorf("policy set: policy for %q: permissive %t in a set with permissive %t", dst, head.Permissive, raw.Permissive)
		}
		prev = dst
		if head.Destination == self {
			var p Policy
			if err := json.Unmarshal(b, &p); err != nil {
				return nil, fmt.Errorf("policy set: policy for %q: %w", dst, err)
			}
			mine = append(mine, p)
		}
	}
	set, err := NewSet(raw.Permissive, mine, lim)
	if err != nil {
		return nil, err
	}
	return set.For(self), nil
}

// NewSet validates policies against lim, compiles their regular
// expressions and indexes them for evaluation. It takes ownership of
// policies. Errors name the destination, TrafficTarget, rule and match at
// fault.
func NewSet(permissive bool, policies []Policy, lim Limits) (*Set, error) {
	if len(policies) > lim.Policies {
		return nil, fmt.Errorf("policy set: %d policies, the most is %d", len(policies), lim.Policies)
	}
	regexes := 0
	for i := range policies {
		p := &policies[i]
		if p.Destination.IsZero() {
			return nil, fmt.Errorf("policy set: policy %d has no destination", i)
		}
		if i > 0 && p.Destination.String() <= policies[i-1].Destination.String() {
			return nil, fmt.Errorf("policy set: policy for %q: not sorted by destination, or listed twice", p.Destination)
		}
		if p.Permissive != permissive {
			return nil, fmt.Errorf("policy set: policy for %q: permissive %t in a set with permissive %t", p.Destination, p.Permissive, permissive)
		}
		if err := p.check(lim, &regexes); err != nil {
			return nil, fmt.Errorf("policy set: policy for %q: %w", p.Destination, err)
		}
		p.index()
	}
	return &Set{Permissive: permissive, Policies: policies}, nil
}

// For is the policy of destination id: its own, or, when nothing names
// it, one that allows everything if the set is permissive and nothing
// otherwise. A proxy calls it once per snapshot with its own identity.
func (s *Set) For(id identity.ID) *Policy {
	i, ok := slices.BinarySearchFunc(s.Policies, id.String(), func(p Policy, k string) int {
		switch ps := p.Destination.String(); {
		case ps < k:
			return -1
		case ps > k:
			return 1
		}
		return 0
	})
	if ok {
		return &s.Policies[i]
	}
	return &Policy{Destination: id, Permissive: s.Permissive}
}

func (p *Policy) check(lim Limits, regexes *int) error {
	if len(p.Targets) > lim.Targets {
		return fmt.Errorf("%d TrafficTargets, the most is %d", len(p.Targets), lim.Targets)
	}
	for i := range p.Targets {
		t := &p.Targets[i]
		if t.Name == "" || len(t.Name) > maxName {
			return fmt.Errorf("TrafficTarget %d: name %.80q: want namespace/name", i, t.Name)
		}
		if i > 0 && t.Name <= p.Targets[i-1].Name {
			return fmt.Errorf("TrafficTarget %q: not sorted by name, or listed twice", t.Name)
		}
		if err := t.check(lim, regexes); err != nil {
			return fmt.Errorf("TrafficTarget %q: %w", t.Name, err)
		}
	}
	if len(p.Ingress) > lim.Ingress {
		return fmt.Errorf("%d ingress backends, the most is %d", len(p.Ingress), lim.Ingress)
	}
	for i := range p.Ingress {
		in := &p.Ingress[i]
		if in.Name == "" || len(in.Name) > maxName {
			return fmt.Errorf("IngressBackend %d: name %.80q: want namespace/name", i, in.Name)
		}
		if err := in.check(lim); err != nil {
			return fmt.Errorf("IngressBackend %q backend %q: %w", in.Name, in.Backend, err)
		}
	}
	return nil
}

func (t *Target) check(lim Limits, regexes *int) error {
	if err := checkIDs(t.Sources, lim.Sources); err != nil {
		return err
	}
	if len(t.Rules) > lim.Rules {
		return fmt.Errorf("%d rules, the most is %d", len(t.Rules), lim.Rules)
	}
	for i := range t.Rules {
		r := &t.Rules[i]
		if r.Index < 0 || i > 0 && r.Index <= t.Rules[i-1].Index {
			return fmt.Errorf("rule %d: index %d: want indexes increasing from 0", i, r.Index)
		}
		if err := r.check(lim, regexes); err != nil {
			return fmt.Errorf("rule %d (%s %q): %w", r.Index, r.Kind, r.Name, err)
		}
	}
	return nil
}

func checkIDs(ids []identity.ID, max int) error {
	if len(ids) > max {
		return fmt.Errorf("%d sources, the most is %d", len(ids), max)
	}
	for i, id := range ids {
		if id.IsZero() {
			return fmt.Errorf("source %d: no identity", i)
		}
	}
	return nil
}

func (r *Rule) check(lim Limits, regexes *int) error {
	switch r.Kind {
	case KindHTTP:
		if r.TCP != nil {
			return fmt.Errorf("an HTTPRouteGroup rule with a TCP match")
		}
		if len(r.HTTP) > lim.Matches {
			return fmt.Errorf("%d matches, the most is %d", len(r.HTTP), lim.Matches)
		}
		for i := range r.HTTP {
			m := &r.HTTP[i]
			if err := m.check(lim, regexes); err != nil {
				return fmt.Errorf("match %q: %w", m.Name, err)
			}
		}
	case KindTCP:
		if r.TCP == nil || len(r.HTTP) > 0 {
			return fmt.Errorf("a TCPRoute rule needs a TCP match and no HTTP ones")
		}
		return r.TCP.check(lim)
	default:
		return fmt.Errorf("kind %.40q: want %s or %s", r.Kind, KindHTTP, KindTCP)
	}
	return nil
}

// CheckMatch validates m as NewSet will and compiles its regular
// expressions, so that a compiler can leave out a match NewSet would
// refuse, and refuse only that match.
func CheckMatch(m *HTTPMatch, lim Limits) error {
	n := 0
	return m.check(lim, &n)
}

// Regexes is how many regular expressions m counts against
// Limits.Regexes.
func (m *HTTPMatch) Regexes() int {
	n := len(m.Headers)
	for _, h := range m.Headers {
		if h.Value == nil {
			n--
		}
	}
	if m.PathRegex != nil {
		n++
	}
	return n
}

func (m *HTTPMatch) check(lim Limits, regexes *int) error {
	if len(m.Methods) == 0 || len(m.Methods) > lim.Methods {
		return fmt.Errorf("%d methods, want at least 1 (\"*\" for any) and the most is %d", len(m.Methods), lim.Methods)
	}
	for _, meth := range m.Methods {
		if !IsToken(meth) {
			return fmt.Errorf("method %.40q is not a token", meth)
		}
	}
	if m.PathRegex != nil {
		if *regexes++; *regexes > lim.Regexes {
			return fmt.Errorf("more than %d regular expressions in the set", lim.Regexes)
		}
		if err := m.PathRegex.compile(); err != nil {
			return fmt.Errorf("pathRegex: %w", err)
		}
	}
	if len(m.Headers) > lim.Headers {
		return fmt.Errorf("%d headers, the most is %d", len(m.Headers), lim.Headers)
	}
	for i := range m.Headers {
		h := &m.Headers[i]
		if !IsToken(h.Name) || textproto.CanonicalMIMEHeaderKey(h.Name) != h.Name {
			return fmt.Errorf("header %.80q: want a field name in canonical form", h.Name)
		}
		if i > 0 && h.Name <= m.Headers[i-1].Name {
			return fmt.Errorf("header %q: not sorted, or listed twice", h.Name)
		}
		if h.Value != nil {
			if *regexes++; *regexes > lim.Regexes {
				return fmt.Errorf("more than %d regular expressions in the set", lim.Regexes)
			}
			if err := h.Value.compile(); err != nil {
				return fmt.Errorf("header %q: %w", h.Name, err)
			}
		}
	}
	return nil
}

func (m *TCPMatch) check(lim Limits) error {
	if m.AnyPort != (len(m.Ports) == 0) {
		return fmt.Errorf("TCP match %q: want either anyPort or ports", m.Name)
	}
	return checkPorts(m.Ports, lim.Ports)
}

func checkPorts(ports []uint16, max int) error {
	if len(ports) > max {
		return fmt.Errorf("%d ports, the most is %d", len(ports), max)
	}
	for i, p := range ports {
		if p == 0 || i > 0 && p <= ports[i-1] {
			return fmt.Errorf("ports %v: want non-zero, sorted and distinct", ports)
		}
	}
	return nil
}

func (in *Ingress) check(lim Limits) error {
	if in.Port == 0 {
		return fmt.Errorf("port 0")
	}
	if in.Protocol != ProtocolHTTP && in.Protocol != ProtocolTCP {
		return fmt.Errorf("protocol %.20q: want %s or %s", in.Protocol, ProtocolHTTP, ProtocolTCP)
	}
	if len(in.IPRanges) > lim.IPRanges {
		return fmt.Errorf("%d IP ranges, the most is %d", len(in.IPRanges), lim.IPRanges)
	}
	for _, r := range in.IPRanges {
		if !r.IsValid() || r != r.Masked() || r.Addr().Zone() != "" || r.Addr().Is4In6() {
			return fmt.Errorf("IP range %s: want a valid CIDR with no host bits, zone or IPv4-mapped address", r)
		}
	}
	return checkIDs(in.Sources, lim.Sources)
}

// index builds bySource.
func (p *Policy) index() {
	p.bySource = make(map[string][]grant)
	for ti := range p.Targets {
		t := &p.Targets[ti]
		seen := make(map[string]bool, len(t.Sources))
		for _, src := range t.Sources {
			k := src.String()
			if seen[k] {
				continue // listed twice in one TrafficTarget
			}
			seen[k] = true
			for ri := range t.Rules {
				p.bySource[k] = append(p.bySource[k], grant{target: int32(ti), rule: int32(ri)})
			}
		}
	}
}

// IsToken reports whether s is RFC 9110's token: what methods and field
// names are made of (at most 256 bytes here).
func IsToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c < 0x80 && isTokenPunct(c):
		default:
			return false
		}
	}
	return true
}

func isTokenPunct(c byte) bool {
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
