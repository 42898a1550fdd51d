package crd

import (
	"cmp"
	"fmt"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
)

// Cluster is what Compile reads: the mesh's settings and the objects of
// the cluster that policy depends on.
type Cluster struct {
	// TrustDomain is the MeshConfig's spec.identity.trustDomain.
	TrustDomain string
	// Permissive is spec.traffic.enablePermissiveTrafficPolicyMode.
	Permissive bool

	TrafficTargets  []TrafficTarget
	HTTPRouteGroups []HTTPRouteGroup
	TCPRoutes       []TCPRoute
	IngressBackends []IngressBackend
	// Services are what IngressBackends refer to.
	Services []Service
	// ServiceAccounts, when not nil, are the ServiceAccounts that exist
	// ("namespace/name"); a TrafficTarget naming another is a finding.
	ServiceAccounts []string
}

// Service is a Service as an IngressBackend needs it: its ports with the
// pods' port they target (from its EndpointSlices, where named target
// ports are resolved), and the identities of its meshed endpoints.
type Service struct {
	Namespace, Name string
	Ports           []ServicePort
	Identities      []identity.ID
	// Addresses are the IPs of its ready endpoints, meshed or not, sorted
	// and distinct: an IngressBackend's source of kind Service.
	Addresses []netip.Addr
}

// ServicePort is one port of a Service and the pods' port it targets.
type ServicePort struct {
	Port, TargetPort int
}

// Severity says whether a finding breaks what its object asks for.
type Severity string

// The severities.
const (
	// SeverityError: part of the object allows nothing, against what its
	// author meant.
	SeverityError Severity = "error"
	// SeverityWarning: the object compiles but is probably not what its
	// author meant.
	SeverityWarning Severity = "warning"
)

// Finding is a problem with one object, for `meshctl check` and the
// controller's events.
type Finding struct {
	Severity Severity `json:"severity"`
	// Kind, Namespace and Name name the object.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Field is the path of the field at fault, like spec.rules[1].
	Field string `json:"field,omitempty"`
	// Message says what is wrong and what it does to traffic.
	Message string `json:"message"`
}

// String is the finding on one line: TrafficTarget "ns/name": field: message.
func (f Finding) String() string {
	s := fmt.Sprintf("%s %q", f.Kind, f.Namespace+"/"+f.Name)
	if f.Field != "" {
		s += ": " + f.Field
	}
	return s + ": " + f.Message
}

type findings []Finding

func (fs *findings) add(sev Severity, kind string, m ObjectMeta, field, format string, args ...any) {
	*fs = append(*fs, Finding{Severity: sev, Kind: kind, Namespace: m.Namespace, Name: m.Name, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Compile turns the cluster's policy objects into the mesh's policy Set:
// one Policy per destination identity that a TrafficTarget or an
// IngressBackend names. Every regular expression compiles here, once.
// The findings say what could not be compiled; the error is for what
// makes a Set impossible (an invalid trust domain, a Set over the
// limits of policy.DefaultLimits, which the proxies enforce).
func Compile(c Cluster) (*policy.Set, []Finding, error) {
	if _, err := identity.NewID(c.TrustDomain, "a", "a"); err != nil {
		return nil, nil, fmt.Errorf("compiling policy: trust domain: %w", err)
	}
	var fs findings
	groups := compileGroups(c.HTTPRouteGroups, &fs)
	routes := compileTCPRoutes(c.TCPRoutes, &fs)
	var sas map[string]bool
	if c.ServiceAccounts != nil {
		sas = make(map[string]bool, len(c.ServiceAccounts))
		for _, s := range c.ServiceAccounts {
			sas[s] = true
		}
	}
	byDst := map[identity.ID]*policy.Policy{}
	get := func(id identity.ID) *policy.Policy {
		p := byDst[id]
		if p == nil {
			p = &policy.Policy{Destination: id, Permissive: c.Permissive}
			byDst[id] = p
		}
		return p
	}

	tts := slices.Clone(c.TrafficTargets)
	slices.SortFunc(tts, func(a, b TrafficTarget) int { return cmpMeta(a.Metadata, b.Metadata) })
	for i := range tts {
		dst, t, ok := compileTarget(&tts[i], c.TrustDomain, groups, routes, sas, &fs)
		if ok {
			p := get(dst)
			p.Targets = append(p.Targets, t)
		}
	}

	services := map[string]*Service{}
	for i := range c.Services {
		s := &c.Services[i]
		services[s.Namespace+"/"+s.Name] = s
	}
	ibs := slices.Clone(c.IngressBackends)
	slices.SortFunc(ibs, func(a, b IngressBackend) int { return cmpMeta(a.Metadata, b.Metadata) })
	for i := range ibs {
		for _, e := range compileIngress(&ibs[i], c.TrustDomain, services, &fs) {
			p := get(e.dst)
			p.Ingress = append(p.Ingress, e.in)
		}
	}

	policies := make([]policy.Policy, 0, len(byDst))
	for _, p := range byDst {
		slices.SortFunc(p.Targets, func(a, b policy.Target) int { return strings.Compare(a.Name, b.Name) })
		slices.SortStableFunc(p.Ingress, func(a, b policy.Ingress) int {
			return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port))
		})
		policies = append(policies, *p)
	}
	slices.SortFunc(policies, func(a, b policy.Policy) int {
		return strings.Compare(a.Destination.String(), b.Destination.String())
	})
	policies = enforceLimits(policies, &fs)
	set, err := policy.NewSet(c.Permissive, policies, policy.DefaultLimits())
	if err != nil {
		return nil, fs, fmt.Errorf("compiling policy: %w", err)
	}
	return set, fs, nil
}

func cmpMeta(a, b ObjectMeta) int {
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
}

// compiledGroup is an HTTPRouteGroup's matches, by name; a match that did
// not compile is absent.
type compiledGroup struct {
	order   []string
	matches map[string]policy.HTTPMatch
	broken  map[string]bool
}

func compileGroups(in []HTTPRouteGroup, fs *findings) map[string]*compiledGroup {
	out := make(map[string]*compiledGroup, len(in))
	for gi := range in {
		g := &in[gi]
		cg := &compiledGroup{matches: map[string]policy.HTTPMatch{}, broken: map[string]bool{}}
		for mi, m := range g.Spec.Matches {
			field := fmt.Sprintf("spec.matches[%d]", mi)
			if m.Name == "" {
				fs.add(SeverityError, KindHTTPRouteGroup, g.Metadata, field, "a match without a name cannot be referred to")
				continue
			}
			if _, dup := cg.matches[m.Name]; dup || cg.broken[m.Name] {
				fs.add(SeverityError, KindHTTPRouteGroup, g.Metadata, field, "match %q is defined twice; the second is ignored", m.Name)
				continue
			}
			hm, err := compileMatch(m)
			if err != nil {
				fs.add(SeverityError, KindHTTPRouteGroup, g.Metadata, field, "match %q: %v; rules naming it allow nothing through it", m.Name, err)
				cg.broken[m.Name] = true
				continue
			}
			cg.order = append(cg.order, m.Name)
			cg.matches[m.Name] = hm
		}
		out[g.Metadata.Namespace+"/"+g.Metadata.Name] = cg
	}
	return out
}

func compileMatch(m HTTPMatch) (policy.HTTPMatch, error) {
	hm := policy.HTTPMatch{Name: m.Name}
	for _, meth := range m.Methods {
		if meth == "*" {
			hm.Methods = []string{"*"}
			break
		}
		if !slices.Contains(hm.Methods, meth) {
			hm.Methods = append(hm.Methods, meth)
		}
	}
	if len(hm.Methods) == 0 {
		hm.Methods = []string{"*"}
	}
	if m.PathRegex != "" {
		r, err := policy.CompileRegex(m.PathRegex)
		if err != nil {
			return hm, fmt.Errorf("pathRegex: %w", err)
		}
		hm.PathRegex = &r
	}
	for name, value := range m.Headers {
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if strings.EqualFold(name, ":authority") {
			canon = "Host"
		}
		for _, h := range hm.Headers {
			if h.Name == canon {
				return hm, fmt.Errorf("header %q is named twice (field names are case-insensitive)", canon)
			}
		}
		h := policy.HeaderMatch{Name: canon}
		if value != "" {
			r, err := policy.CompileRegex(value)
			if err != nil {
				return hm, fmt.Errorf("header %q: %w", name, err)
			}
			h.Value = &r
		}
		hm.Headers = append(hm.Headers, h)
	}
	slices.SortFunc(hm.Headers, func(a, b policy.HeaderMatch) int { return strings.Compare(a.Name, b.Name) })
	// What the proxies would refuse is refused here, for this match
	// alone, rather than making the whole Set unacceptable.
	if err := policy.CheckMatch(&hm, policy.DefaultLimits()); err != nil {
		return hm, err
	}
	return hm, nil
}

func compileTCPRoutes(in []TCPRoute, fs *findings) map[string]*policy.TCPMatch {
	out := make(map[string]*policy.TCPMatch, len(in))
	for i := range in {
		r := &in[i]
		m := &policy.TCPMatch{Name: r.Spec.Matches.Name}
		for pi, p := range r.Spec.Matches.Ports {
			if p < 1 || p > 65535 {
				fs.add(SeverityError, KindTCPRoute, r.Metadata, fmt.Sprintf("spec.matches.ports[%d]", pi), "port %d is not a TCP port", p)
				continue
			}
			m.Ports = append(m.Ports, uint16(p))
		}
		slices.Sort(m.Ports)
		m.Ports = slices.Compact(m.Ports)
		switch {
		case len(r.Spec.Matches.Ports) == 0:
			m.AnyPort = true
		case len(m.Ports) == 0:
			// Every port was invalid: the route allows nothing, which
			// a TCPMatch cannot say, so it is left out.
			continue
		}
		out[r.Metadata.Namespace+"/"+r.Metadata.Name] = m
	}
	return out
}

func compileTarget(tt *TrafficTarget, td string, groups map[string]*compiledGroup, routes map[string]*policy.TCPMatch, sas map[string]bool, fs *findings) (identity.ID, policy.Target, bool) {
	md, spec := tt.Metadata, &tt.Spec
	bad := func(field, format string, args ...any) (identity.ID, policy.Target, bool) {
		fs.add(SeverityError, KindTrafficTarget, md, field, format+"; the TrafficTarget allows nothing", args...)
		return identity.ID{}, policy.Target{}, false
	}
	if spec.Destination.Kind != KindServiceAccount {
		return bad("spec.destination.kind", "kind %q: want ServiceAccount", spec.Destination.Kind)
	}
	ns := cmp.Or(spec.Destination.Namespace, md.Namespace)
	if ns != md.Namespace {
		// Anyone who may write TrafficTargets in one namespace would
		// otherwise open any other namespace's workloads.
		return bad("spec.destination.namespace", "destination namespace %q is not the TrafficTarget's own", ns)
	}
	dst, err := identity.NewID(td, ns, spec.Destination.Name)
	if err != nil {
		return bad("spec.destination", "%v", err)
	}
	if sas != nil && !sas[ns+"/"+spec.Destination.Name] {
		fs.add(SeverityWarning, KindTrafficTarget, md, "spec.destination", "ServiceAccount %q does not exist", ns+"/"+spec.Destination.Name)
	}
	t := policy.Target{Name: md.Namespace + "/" + md.Name}
	if p := spec.Destination.Port; p != nil {
		if *p < 1 || *p > 65535 {
			return bad("spec.destination.port", "port %d is not a TCP port", *p)
		}
		t.Port = uint16(*p)
	}
	for i, s := range spec.Sources {
		field := fmt.Sprintf("spec.sources[%d]", i)
		if s.Kind != KindServiceAccount {
			fs.add(SeverityError, KindTrafficTarget, md, field, "kind %q: want ServiceAccount; the source is ignored", s.Kind)
			continue
		}
		sns := cmp.Or(s.Namespace, md.Namespace)
		id, err := identity.NewID(td, sns, s.Name)
		if err != nil {
			fs.add(SeverityError, KindTrafficTarget, md, field, "%v; the source is ignored", err)
			continue
		}
		if sas != nil && !sas[sns+"/"+s.Name] {
			fs.add(SeverityWarning, KindTrafficTarget, md, field, "ServiceAccount %q does not exist", sns+"/"+s.Name)
		}
		if !slices.Contains(t.Sources, id) {
			t.Sources = append(t.Sources, id)
		}
	}
	if lim := policy.DefaultLimits(); len(t.Sources) > lim.Sources {
		fs.add(SeverityError, KindTrafficTarget, md, "spec.sources", "%d sources: only the first %d are used", len(t.Sources), lim.Sources)
		t.Sources = t.Sources[:lim.Sources]
	}
	if len(t.Sources) == 0 {
		fs.add(SeverityWarning, KindTrafficTarget, md, "spec.sources", "no sources: the TrafficTarget allows no one")
	}
	t.Rules = []policy.Rule{}
	for i, r := range spec.Rules {
		field := fmt.Sprintf("spec.rules[%d]", i)
		key := md.Namespace + "/" + r.Name
		switch r.Kind {
		case KindHTTPRouteGroup:
			rule := policy.Rule{Index: i, Kind: policy.KindHTTP, Name: r.Name}
			g := groups[key]
			if g == nil {
				fs.add(SeverityError, KindTrafficTarget, md, field, "HTTPRouteGroup %q does not exist; the rule allows nothing", key)
				t.Rules = append(t.Rules, rule)
				continue
			}
			names := r.Matches
			if len(names) == 0 {
				names = g.order
			}
			for j, name := range names {
				m, ok := g.matches[name]
				switch {
				case ok:
					if !slices.ContainsFunc(rule.HTTP, func(h policy.HTTPMatch) bool { return h.Name == name }) {
						rule.HTTP = append(rule.HTTP, m)
					}
				case g.broken[name]:
					fs.add(SeverityError, KindTrafficTarget, md, fmt.Sprintf("%s.matches[%d]", field, j), "match %q of HTTPRouteGroup %q did not compile; it allows nothing", name, key)
				default:
					fs.add(SeverityError, KindTrafficTarget, md, fmt.Sprintf("%s.matches[%d]", field, j), "HTTPRouteGroup %q has no match %q; it allows nothing", key, name)
				}
			}
			t.Rules = append(t.Rules, rule)
		case KindTCPRoute:
			m := routes[key]
			if m == nil {
				fs.add(SeverityError, KindTrafficTarget, md, field, "TCPRoute %q does not exist or has no valid port; the rule allows nothing", key)
				continue
			}
			t.Rules = append(t.Rules, policy.Rule{Index: i, Kind: policy.KindTCP, Name: r.Name, TCP: m})
		default:
			fs.add(SeverityError, KindTrafficTarget, md, field, "kind %q: want HTTPRouteGroup or TCPRoute; the rule allows nothing", r.Kind)
		}
	}
	if len(spec.Rules) == 0 {
		fs.add(SeverityWarning, KindTrafficTarget, md, "spec.rules", "no rules: the TrafficTarget allows nothing")
	}
	lim := policy.DefaultLimits()
	if len(t.Rules) > lim.Rules {
		fs.add(SeverityError, KindTrafficTarget, md, "spec.rules", "%d rules: only the first %d are used", len(t.Rules), lim.Rules)
		t.Rules = t.Rules[:lim.Rules]
	}
	for i := range t.Rules {
		if r := &t.Rules[i]; len(r.HTTP) > lim.Matches {
			fs.add(SeverityError, KindTrafficTarget, md, fmt.Sprintf("spec.rules[%d]", r.Index), "%d matches: only the first %d are used", len(r.HTTP), lim.Matches)
			r.HTTP = r.HTTP[:lim.Matches]
		}
	}
	return dst, t, true
}

type ingressEntry struct {
	dst identity.ID
	in  policy.Ingress
}

func compileIngress(ib *IngressBackend, td string, services map[string]*Service, fs *findings) []ingressEntry {
	md := ib.Metadata
	var ranges []netip.Prefix
	var ids []identity.ID
	for i, s := range ib.Spec.Sources {
		field := fmt.Sprintf("spec.sources[%d]", i)
		switch s.Kind {
		case KindIPRange:
			p, err := netip.ParsePrefix(s.Name)
			if err != nil || p != p.Masked() || p.Addr().Is4In6() {
				fs.add(SeverityError, KindIngressBackend, md, field, "IP range %q is not a CIDR without host bits; the source is ignored", s.Name)
				continue
			}
			ranges = append(ranges, p)
		case KindService:
			key := cmp.Or(s.Namespace, md.Namespace) + "/" + s.Name
			svc := services[key]
			if svc == nil {
				fs.add(SeverityError, KindIngressBackend, md, field, "Service %q does not exist; the source is ignored", key)
				continue
			}
			if len(svc.Addresses) == 0 {
				fs.add(SeverityWarning, KindIngressBackend, md, field, "Service %q has no ready endpoints; the source allows no one until it has", key)
			}
			for _, a := range svc.Addresses {
				ranges = append(ranges, netip.PrefixFrom(a, a.BitLen()))
			}
		case KindServiceAccount:
			id, err := identity.NewID(td, cmp.Or(s.Namespace, md.Namespace), s.Name)
			if err != nil {
				fs.add(SeverityError, KindIngressBackend, md, field, "%v; the source is ignored", err)
				continue
			}
			ids = append(ids, id)
		case KindAuthenticatedPrincipal:
			id, err := identity.ParseID(s.Name)
			if err != nil {
				fs.add(SeverityError, KindIngressBackend, md, field, "%v; the source is ignored", err)
				continue
			}
			if id.TrustDomain() != td {
				fs.add(SeverityWarning, KindIngressBackend, md, field, "%s is not of the mesh's trust domain %q; no proxy can prove it", id, td)
			}
			ids = append(ids, id)
		default:
			fs.add(SeverityError, KindIngressBackend, md, field, "kind %q: want IPRange, Service, ServiceAccount or AuthenticatedPrincipal; the source is ignored", s.Kind)
		}
	}
	if lim := policy.DefaultLimits(); len(ranges) > lim.IPRanges || len(ids) > lim.Sources {
		fs.add(SeverityError, KindIngressBackend, md, "spec.sources", "more than %d IP ranges or %d identities: only the first are used", lim.IPRanges, lim.Sources)
		ranges, ids = ranges[:min(len(ranges), lim.IPRanges)], ids[:min(len(ids), lim.Sources)]
	}
	if len(ranges) == 0 && len(ids) == 0 {
		fs.add(SeverityWarning, KindIngressBackend, md, "spec.sources", "no valid source: the IngressBackend allows no one")
	}
	var out []ingressEntry
	for i, b := range ib.Spec.Backends {
		field := fmt.Sprintf("spec.backends[%d]", i)
		proto := policy.Protocol(strings.ToLower(cmp.Or(b.Port.Protocol, "http")))
		if proto != policy.ProtocolHTTP && proto != policy.ProtocolTCP {
			fs.add(SeverityError, KindIngressBackend, md, field+".port.protocol", "protocol %q: want http or tcp; the backend allows nothing", b.Port.Protocol)
			continue
		}
		key := md.Namespace + "/" + b.Name
		svc := services[key]
		if svc == nil {
			fs.add(SeverityError, KindIngressBackend, md, field, "Service %q does not exist; the backend allows nothing", key)
			continue
		}
		target := 0
		for _, sp := range svc.Ports {
			if sp.Port == b.Port.Number {
				target = sp.TargetPort
			}
		}
		if target < 1 || target > 65535 {
			fs.add(SeverityError, KindIngressBackend, md, field+".port.number", "Service %q has no port %d with a resolved target port; the backend allows nothing", key, b.Port.Number)
			continue
		}
		if len(svc.Identities) == 0 {
			fs.add(SeverityWarning, KindIngressBackend, md, field, "Service %q has no meshed endpoints: nothing enforces policy there", key)
		}
		for _, dst := range svc.Identities {
			if dst.Namespace() != md.Namespace {
				continue // a Service selects pods of its own namespace only
			}
			out = append(out, ingressEntry{dst: dst, in: policy.Ingress{
				Name:     md.Namespace + "/" + md.Name,
				Backend:  fmt.Sprintf("%s:%d", b.Name, b.Port.Number),
				Port:     uint16(target),
				Protocol: proto,
				IPRanges: ranges,
				Sources:  ids,
			}})
		}
	}
	return out
}

// enforceLimits leaves out, with a finding, what would take the Set over
// policy.DefaultLimits: TrafficTargets and IngressBackends beyond the
// most one destination may have, destinations beyond the most a Set may
// have, TrafficTargets beyond the Set's budget of regular expressions.
// Leaving out only ever allows less, and keeps one namespace's objects
// from making the whole mesh's policy unacceptable to the proxies.
// A namespace's share of the mesh's policy. A TrafficTarget and an
// IngressBackend only protect their own namespace's workloads, so whoever
// may write them in one namespace must not be able to crowd out the
// others' policy (the mesh-wide limits are filled in destination order)
// or grow the snapshot every proxy receives past what the channel
// carries. Real namespaces need a small fraction of these.
const (
	MaxDestinationsPerNamespace = 1000
	MaxRegexesPerNamespace      = 5000
	MaxSourcesPerNamespace      = 10000
)

// namespaceShares leaves out, with findings, what goes beyond a
// namespace's share, in the order of policies (sorted by destination,
// so a namespace's destinations are together).
func namespaceShares(policies []policy.Policy, drop func(kind, name, format string, args ...any)) []policy.Policy {
	type share struct{ destinations, regexes, sources int }
	used := map[string]*share{}
	kept := policies[:0]
	for _, p := range policies {
		ns := p.Destination.Namespace()
		u := used[ns]
		if u == nil {
			u = &share{}
			used[ns] = u
		}
		if u.destinations >= MaxDestinationsPerNamespace {
			for _, t := range p.Targets {
				drop(KindTrafficTarget, t.Name, "namespace %q has policy for more than %d destinations; %s is left out and allows nothing", ns, MaxDestinationsPerNamespace, p.Destination)
			}
			for _, in := range p.Ingress {
				drop(KindIngressBackend, in.Name, "namespace %q has policy for more than %d destinations; %s is left out and allows nothing", ns, MaxDestinationsPerNamespace, p.Destination)
			}
			continue
		}
		u.destinations++
		targets := p.Targets[:0]
		for _, t := range p.Targets {
			n := 0
			for _, r := range t.Rules {
				for j := range r.HTTP {
					n += r.HTTP[j].Regexes()
				}
			}
			if u.regexes+n > MaxRegexesPerNamespace || u.sources+len(t.Sources) > MaxSourcesPerNamespace {
				drop(KindTrafficTarget, t.Name, "namespace %q's policy holds more than %d regular expressions or %d sources; this TrafficTarget is left out and allows nothing",
					ns, MaxRegexesPerNamespace, MaxSourcesPerNamespace)
				continue
			}
			u.regexes += n
			u.sources += len(t.Sources)
			targets = append(targets, t)
		}
		p.Targets = targets
		kept = append(kept, p)
	}
	return kept
}

func enforceLimits(policies []policy.Policy, fs *findings) []policy.Policy {
	lim := policy.DefaultLimits()
	drop := func(kind, name, format string, args ...any) {
		ns, n, _ := strings.Cut(name, "/")
		fs.add(SeverityError, kind, ObjectMeta{Namespace: ns, Name: n}, "", format, args...)
	}
	policies = namespaceShares(policies, drop)
	if len(policies) > lim.Policies {
		for _, p := range policies[lim.Policies:] {
			for _, t := range p.Targets {
				drop(KindTrafficTarget, t.Name, "the mesh has more than %d destinations with policy; %s is left out and allows nothing", lim.Policies, p.Destination)
			}
			for _, in := range p.Ingress {
				drop(KindIngressBackend, in.Name, "the mesh has more than %d destinations with policy; %s is left out and allows nothing", lim.Policies, p.Destination)
			}
		}
		policies = policies[:lim.Policies]
	}
	regexes := 0
	for i := range policies {
		p := &policies[i]
		if len(p.Targets) > lim.Targets {
			for _, t := range p.Targets[lim.Targets:] {
				drop(KindTrafficTarget, t.Name, "%s has more than %d TrafficTargets; this one is left out and allows nothing", p.Destination, lim.Targets)
			}
			p.Targets = p.Targets[:lim.Targets]
		}
		if len(p.Ingress) > lim.Ingress {
			for _, in := range p.Ingress[lim.Ingress:] {
				drop(KindIngressBackend, in.Name, "%s has more than %d IngressBackend backends; backend %s is left out and allows nothing", p.Destination, lim.Ingress, in.Backend)
			}
			p.Ingress = p.Ingress[:lim.Ingress]
		}
		kept := p.Targets[:0]
		for _, t := range p.Targets {
			n := 0
			for _, r := range t.Rules {
				for j := range r.HTTP {
					n += r.HTTP[j].Regexes()
				}
			}
			if regexes+n > lim.Regexes {
				drop(KindTrafficTarget, t.Name, "the mesh's policy holds more than %d regular expressions; this TrafficTarget is left out and allows nothing", lim.Regexes)
				continue
			}
			regexes += n
			kept = append(kept, t)
		}
		p.Targets = kept
	}
	return policies
}
