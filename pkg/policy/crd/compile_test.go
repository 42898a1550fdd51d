package crd

import (
	"cmp"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
)

func id(t *testing.T, ns, sa string) identity.ID {
	t.Helper()
	i, err := identity.NewID("cluster.local", ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return v
}

// The examples' policy (examples/bookstore/traffic-policy.yaml), as the
// controller's JSON conversion of the unstructured objects gives it.
const (
	routesJSON = `{"apiVersion":"specs.smi-spec.io/v1alpha4","kind":"HTTPRouteGroup","metadata":{"name":"bookstore-routes","namespace":"bookstore"},
	  "spec":{"matches":[{"name":"buy","methods":["GET"],"pathRegex":"^/api/buy$"},{"name":"steal","methods":["GET"],"pathRegex":"^/api/steal$"}]}}`
	buyJSON = `{"apiVersion":"access.smi-spec.io/v1alpha3","kind":"TrafficTarget","metadata":{"name":"bookstore-buy","namespace":"bookstore"},
	  "spec":{"destination":{"kind":"ServiceAccount","name":"bookstore","namespace":"bookstore"},
	    "rules":[{"kind":"HTTPRouteGroup","name":"bookstore-routes","matches":["buy"]}],
	    "sources":[{"kind":"ServiceAccount","name":"bookbuyer","namespace":"bookbuyer"},{"kind":"ServiceAccount","name":"bookthief","namespace":"bookthief"}]}}`
)

type probe struct {
	from, to string // "ns/sa"; from "" is plain text from ip
	ip       string // 198.18.5.5 when empty
	port     uint16
	method   string
	target   string
	header   policy.HeaderMap
	allow    bool
}

func (p probe) check(t *testing.T, s *policy.Set) {
	t.Helper()
	ns, sa, _ := strings.Cut(p.to, "/")
	pol := s.For(id(t, ns, sa))
	r := policy.Request{SourceIP: netip.MustParseAddr(cmp.Or(p.ip, "198.18.5.5")), Port: p.port, Method: p.method, Host: "x", Target: p.target}
	if p.header != nil {
		r.Header = p.header
	}
	if p.from != "" {
		fns, fsa, _ := strings.Cut(p.from, "/")
		r.Source = id(t, fns, fsa)
	}
	if r.Port == 0 {
		r.Port = 14001
	}
	if r.Method == "" {
		r.Method = "GET"
	}
	var d policy.Decision
	if r.Target == "" {
		d = pol.TCP(r.Source, r.SourceIP, r.Port)
	} else {
		d = pol.HTTP(&r)
	}
	if d.Allow != p.allow {
		t.Errorf("%s -> %s port %d %s %q: %+v, want allowed %t", p.from, p.to, r.Port, r.Method, r.Target, d, p.allow)
	}
}

func TestCompile(t *testing.T) {
	routes := decode[HTTPRouteGroup](t, routesJSON)
	buy := decode[TrafficTarget](t, buyJSON)
	port := func(n int) *int { return &n }
	sa := func(ns, name string) IdentityBindingSubject {
		return IdentityBindingSubject{Kind: KindServiceAccount, Namespace: ns, Name: name}
	}
	tt := func(name string, dst IdentityBindingSubject, rules []TrafficTargetRule, srcs ...IdentityBindingSubject) TrafficTarget {
		return TrafficTarget{Metadata: ObjectMeta{Namespace: "bookstore", Name: name}, Spec: TrafficTargetSpec{Destination: dst, Sources: srcs, Rules: rules}}
	}
	httpRule := func(name string, matches ...string) TrafficTargetRule {
		return TrafficTargetRule{Kind: KindHTTPRouteGroup, Name: name, Matches: matches}
	}
	store := sa("bookstore", "bookstore")
	buyer := sa("bookbuyer", "bookbuyer")
	bookstoreSvc := Service{Namespace: "bookstore", Name: "bookstore", Ports: []ServicePort{{Port: 80, TargetPort: 14001}, {Port: 5432, TargetPort: 5432}}, Identities: []identity.ID{id(t, "bookstore", "bookstore")}}

	for _, c := range []struct {
		name       string
		cluster    Cluster
		findings   []string // substrings of Finding.String(), in order
		probes     []probe
		permissive bool
	}{
		{
			name:    "the examples' bookstore policy",
			cluster: Cluster{TrafficTargets: []TrafficTarget{buy}, HTTPRouteGroups: []HTTPRouteGroup{routes}},
			probes: []probe{
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/api/buy", allow: true},
				{from: "bookthief/bookthief", to: "bookstore/bookstore", target: "/api/buy", allow: true},
				{from: "bookthief/bookthief", to: "bookstore/bookstore", target: "/api/steal"},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", method: "POST", target: "/api/buy"},
				{from: "default/x", to: "bookstore/bookstore", target: "/api/buy"},
				{to: "bookstore/bookstore", target: "/api/buy"},
				{from: "bookbuyer/bookbuyer", to: "bookbuyer/bookbuyer", target: "/api/buy"},
			},
		},
		{
			name:       "permissive",
			cluster:    Cluster{Permissive: true, TrafficTargets: []TrafficTarget{buy}, HTTPRouteGroups: []HTTPRouteGroup{routes}},
			permissive: true,
			probes: []probe{
				{from: "default/x", to: "bookstore/bookstore", target: "/api/steal", allow: true},
				{to: "other/y", port: 1, allow: true},
			},
		},
		{
			name:     "a missing HTTPRouteGroup allows nothing",
			cluster:  Cluster{TrafficTargets: []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("nope")}, buyer)}},
			findings: []string{`TrafficTarget "bookstore/t": spec.rules[0]: HTTPRouteGroup "bookstore/nope" does not exist; the rule allows nothing`},
			probes:   []probe{{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/"}},
		},
		{
			name:     "a group in another namespace is not found",
			cluster:  Cluster{TrafficTargets: []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("bookstore-routes")}, buyer)}, HTTPRouteGroups: []HTTPRouteGroup{{Metadata: ObjectMeta{Namespace: "other", Name: "bookstore-routes"}, Spec: routes.Spec}}},
			findings: []string{`HTTPRouteGroup "bookstore/bookstore-routes" does not exist`},
			probes:   []probe{{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/api/buy"}},
		},
		{
			name:     "a match not in the group",
			cluster:  Cluster{TrafficTargets: []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("bookstore-routes", "buy", "browse")}, buyer)}, HTTPRouteGroups: []HTTPRouteGroup{routes}},
			findings: []string{`TrafficTarget "bookstore/t": spec.rules[0].matches[1]: HTTPRouteGroup "bookstore/bookstore-routes" has no match "browse"; it allows nothing`},
			probes: []probe{
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/api/buy", allow: true},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/api/steal"},
			},
		},
		{
			name:    "no matches named is every match of the group",
			cluster: Cluster{TrafficTargets: []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("bookstore-routes")}, buyer)}, HTTPRouteGroups: []HTTPRouteGroup{routes}},
			probes: []probe{
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/api/steal", allow: true},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/api/other"},
			},
		},
		{
			name: "a bad regex: that match allows nothing, the others work",
			cluster: Cluster{TrafficTargets: []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("g")}, buyer)}, HTTPRouteGroups: []HTTPRouteGroup{{Metadata: ObjectMeta{Namespace: "bookstore", Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: []HTTPMatch{
				{Name: "bad", PathRegex: "/a)|(.*"}, {Name: "good", PathRegex: "/b"}, {Name: "badheader", Headers: map[string]string{"x-a": "("}},
			}}}}},
			findings: []string{
				`HTTPRouteGroup "bookstore/g": spec.matches[0]: match "bad": pathRegex: regular expression "/a)|(.*"`,
				`HTTPRouteGroup "bookstore/g": spec.matches[2]: match "badheader": header "x-a": regular expression "("`,
			},
			probes: []probe{
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/a"},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/anything"},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/b", allow: true},
			},
		},
		{
			name:     "naming a broken match is a finding of the TrafficTarget too",
			cluster:  Cluster{TrafficTargets: []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("g", "bad")}, buyer)}, HTTPRouteGroups: []HTTPRouteGroup{{Metadata: ObjectMeta{Namespace: "bookstore", Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: []HTTPMatch{{Name: "bad", PathRegex: "["}}}}}},
			findings: []string{`match "bad": pathRegex`, `TrafficTarget "bookstore/t": spec.rules[0].matches[0]: match "bad" of HTTPRouteGroup "bookstore/g" did not compile; it allows nothing`},
			probes:   []probe{{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/"}},
		},
		{
			name: "methods, headers in any case, host",
			cluster: Cluster{TrafficTargets: []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("g")}, buyer)}, HTTPRouteGroups: []HTTPRouteGroup{{Metadata: ObjectMeta{Namespace: "bookstore", Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: []HTTPMatch{
				{Name: "m", Methods: []string{"PUT"}, PathRegex: "/m"},
				{Name: "any", PathRegex: "/any"},
				{Name: "h", PathRegex: "/h", Headers: map[string]string{"x-api-version": "v[12]", "HOST": "x"}},
			}}}}},
			probes: []probe{
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", method: "PUT", target: "/m", allow: true},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/m"},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", method: "DELETE", target: "/any", allow: true},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/h", header: policy.HeaderMap{"X-Api-Version": {"v2"}}, allow: true},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/h", header: policy.HeaderMap{"X-Api-Version": {"v3"}}},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/h"},
			},
		},
		{
			name:     "a destination in another namespace is refused",
			cluster:  Cluster{TrafficTargets: []TrafficTarget{{Metadata: ObjectMeta{Namespace: "evil", Name: "open"}, Spec: TrafficTargetSpec{Destination: store, Sources: []IdentityBindingSubject{sa("evil", "thief")}, Rules: []TrafficTargetRule{{Kind: KindTCPRoute, Name: "all"}}}}}, TCPRoutes: []TCPRoute{{Metadata: ObjectMeta{Namespace: "evil", Name: "all"}}}},
			findings: []string{`TrafficTarget "evil/open": spec.destination.namespace: destination namespace "bookstore" is not the TrafficTarget's own; the TrafficTarget allows nothing`},
			probes:   []probe{{from: "evil/thief", to: "bookstore/bookstore", port: 14001}, {from: "evil/thief", to: "bookstore/bookstore", target: "/"}},
		},
		{
			name:     "no rules allows nothing",
			cluster:  Cluster{TrafficTargets: []TrafficTarget{tt("t", store, nil, buyer)}},
			findings: []string{`TrafficTarget "bookstore/t": spec.rules: no rules: the TrafficTarget allows nothing`},
			probes:   []probe{{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", target: "/"}, {from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", port: 1}},
		},
		{
			name: "TCPRoutes",
			cluster: Cluster{
				TrafficTargets: []TrafficTarget{
					tt("db", sa("", "bookstore"), []TrafficTargetRule{{Kind: KindTCPRoute, Name: "pg"}, {Kind: KindTCPRoute, Name: "missing"}, {Kind: KindTCPRoute, Name: "broken"}}, buyer),
					tt("metrics", IdentityBindingSubject{Kind: KindServiceAccount, Name: "bookstore", Port: port(9090)}, []TrafficTargetRule{{Kind: KindTCPRoute, Name: "all"}}, sa("monitoring", "prometheus")),
				},
				TCPRoutes: []TCPRoute{
					{Metadata: ObjectMeta{Namespace: "bookstore", Name: "pg"}, Spec: TCPRouteSpec{Matches: TCPMatch{Ports: []int{5432, 5433, 5432}}}},
					{Metadata: ObjectMeta{Namespace: "bookstore", Name: "all"}},
					{Metadata: ObjectMeta{Namespace: "bookstore", Name: "broken"}, Spec: TCPRouteSpec{Matches: TCPMatch{Ports: []int{0, 70000}}}},
				},
			},
			findings: []string{
				`TCPRoute "bookstore/broken": spec.matches.ports[0]: port 0 is not a TCP port`,
				`TCPRoute "bookstore/broken": spec.matches.ports[1]: port 70000`,
				`TrafficTarget "bookstore/db": spec.rules[1]: TCPRoute "bookstore/missing" does not exist`,
				`TrafficTarget "bookstore/db": spec.rules[2]: TCPRoute "bookstore/broken" does not exist or has no valid port`,
			},
			probes: []probe{
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", port: 5432, allow: true},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", port: 5433, allow: true},
				{from: "bookbuyer/bookbuyer", to: "bookstore/bookstore", port: 5434},
				{from: "monitoring/prometheus", to: "bookstore/bookstore", port: 9090, allow: true},
				{from: "monitoring/prometheus", to: "bookstore/bookstore", port: 9090, target: "/metrics", allow: true},
				{from: "monitoring/prometheus", to: "bookstore/bookstore", port: 9091},
			},
		},
		{
			name: "sources that are not ServiceAccounts are ignored",
			cluster: Cluster{
				TrafficTargets:  []TrafficTarget{tt("t", store, []TrafficTargetRule{httpRule("bookstore-routes")}, IdentityBindingSubject{Kind: "Group", Name: "all"}, IdentityBindingSubject{Kind: KindServiceAccount, Name: "Bad_Name"})},
				HTTPRouteGroups: []HTTPRouteGroup{routes},
			},
			findings: []string{`spec.sources[0]: kind "Group"`, `spec.sources[1]: `, `spec.sources: no sources`},
		},
		{
			name:     "ServiceAccounts that do not exist",
			cluster:  Cluster{TrafficTargets: []TrafficTarget{buy}, HTTPRouteGroups: []HTTPRouteGroup{routes}, ServiceAccounts: []string{"bookstore/bookstore", "bookbuyer/bookbuyer"}},
			findings: []string{`TrafficTarget "bookstore/bookstore-buy": spec.sources[1]: ServiceAccount "bookthief/bookthief" does not exist`},
		},
		{
			name: "IngressBackends",
			cluster: Cluster{
				Services: []Service{bookstoreSvc},
				IngressBackends: []IngressBackend{decode[IngressBackend](t, `{"apiVersion":"policy.meshctl.io/v1alpha1","kind":"IngressBackend","metadata":{"name":"web","namespace":"bookstore"},
				  "spec":{"backends":[{"name":"bookstore","port":{"number":80,"protocol":"http"}},{"name":"bookstore","port":{"number":5432,"protocol":"tcp"}},{"name":"missing","port":{"number":80}},{"name":"bookstore","port":{"number":81}},{"name":"bookstore","port":{"number":80,"protocol":"grpc"}}],
				    "sources":[{"kind":"IPRange","name":"198.18.5.0/24"},{"kind":"ServiceAccount","name":"nginx","namespace":"ingress"},{"kind":"AuthenticatedPrincipal","name":"spiffe://cluster.local/ns/gw/sa/envoy"},{"kind":"IPRange","name":"10.0.0.1/8"},{"kind":"Service","name":"x"}]}}`)},
			},
			findings: []string{
				`IngressBackend "bookstore/web": spec.sources[3]: IP range "10.0.0.1/8" is not a CIDR without host bits`,
				`IngressBackend "bookstore/web": spec.sources[4]: Service "bookstore/x" does not exist; the source is ignored`,
				`IngressBackend "bookstore/web": spec.backends[2]: Service "bookstore/missing" does not exist`,
				`IngressBackend "bookstore/web": spec.backends[3].port.number: Service "bookstore/bookstore" has no port 81`,
				`IngressBackend "bookstore/web": spec.backends[4].port.protocol: protocol "grpc"`,
			},
			probes: []probe{
				{to: "bookstore/bookstore", target: "/anything", allow: true},
				{to: "bookstore/bookstore", port: 14001},
				{to: "bookstore/bookstore", port: 5432, allow: true},
				{to: "bookstore/bookstore", port: 80, target: "/"},
				{from: "ingress/nginx", to: "bookstore/bookstore", target: "/", allow: true},
				{from: "gw/envoy", to: "bookstore/bookstore", target: "/", allow: true},
				{from: "default/x", to: "bookstore/bookstore", target: "/", allow: true}, // its address is in the range
			},
		},
		{
			// An ingress controller outside the mesh, named by its
			// Service: the addresses of its ready endpoints, and only
			// those, reach the backend.
			name: "IngressBackend sources by Service",
			cluster: Cluster{
				Services: []Service{bookstoreSvc,
					{Namespace: "ingress", Name: "nginx", Addresses: []netip.Addr{netip.MustParseAddr("198.18.7.1"), netip.MustParseAddr("198.18.7.2")}},
					{Namespace: "bookstore", Name: "idle"}},
				IngressBackends: []IngressBackend{decode[IngressBackend](t, `{"metadata":{"name":"web","namespace":"bookstore"},
				  "spec":{"backends":[{"name":"bookstore","port":{"number":80}}],
				    "sources":[{"kind":"Service","name":"nginx","namespace":"ingress"},{"kind":"Service","name":"idle"}]}}`)},
			},
			findings: []string{`IngressBackend "bookstore/web": spec.sources[1]: Service "bookstore/idle" has no ready endpoints; the source allows no one until it has`},
			probes: []probe{
				{ip: "198.18.7.1", to: "bookstore/bookstore", target: "/", allow: true},
				{ip: "198.18.7.2", to: "bookstore/bookstore", target: "/", allow: true},
				{ip: "198.18.7.3", to: "bookstore/bookstore", target: "/"},
				{to: "bookstore/bookstore", target: "/"},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cluster.TrustDomain = "cluster.local"
			s, fs, err := Compile(c.cluster)
			if err != nil {
				t.Fatal(err)
			}
			if s.Permissive != c.permissive {
				t.Errorf("Permissive %t", s.Permissive)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.String())
			}
			if len(got) != len(c.findings) {
				t.Errorf("findings:\n%s\nwant %d:\n%s", strings.Join(got, "\n"), len(c.findings), strings.Join(c.findings, "\n"))
			} else {
				for i, want := range c.findings {
					if !strings.Contains(got[i], want) {
						t.Errorf("finding %d: %s\nwant it to say %s", i, got[i], want)
					}
				}
			}
			for _, p := range c.probes {
				p.check(t, s)
			}
			// The proxy gets the Set as JSON: it must decode to the same
			// decisions.
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := policy.DecodeSet(b, policy.DefaultLimits())
			if err != nil {
				t.Fatalf("the proxy refuses the compiled set: %v\n%s", err, b)
			}
			for _, p := range c.probes {
				p.check(t, s2)
			}
		})
	}
}

// TestCompileIsDeterministic: the same objects in any order compile to
// the same bytes, so every controller replica sends the same snapshot.
func TestCompileIsDeterministic(t *testing.T) {
	routes := decode[HTTPRouteGroup](t, routesJSON)
	buy := decode[TrafficTarget](t, buyJSON)
	other := buy
	other.Metadata.Name = "another"
	other.Spec.Sources = other.Spec.Sources[:1]
	headers := HTTPRouteGroup{Metadata: ObjectMeta{Namespace: "bookstore", Name: "h"}, Spec: HTTPRouteGroupSpec{Matches: []HTTPMatch{{Name: "h", Headers: map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}}}}}
	third := buy
	third.Metadata.Name = "third"
	third.Spec.Rules = []TrafficTargetRule{{Kind: KindHTTPRouteGroup, Name: "h"}}
	encode := func(c Cluster) string {
		c.TrustDomain = "cluster.local"
		s, _, err := Compile(c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a := encode(Cluster{TrafficTargets: []TrafficTarget{buy, other, third}, HTTPRouteGroups: []HTTPRouteGroup{routes, headers}})
	for range 20 {
		if b := encode(Cluster{TrafficTargets: []TrafficTarget{third, other, buy}, HTTPRouteGroups: []HTTPRouteGroup{headers, routes}}); b != a {
			t.Fatalf("two encodings of one cluster:\n%s\n%s", a, b)
		}
	}
}

func TestCompileRefusesABadTrustDomain(t *testing.T) {
	if _, _, err := Compile(Cluster{TrustDomain: "Not Valid"}); err == nil {
		t.Error("Compile accepted an invalid trust domain")
	}
}
