package crd

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
)

// FuzzCompile feeds Compile objects as any namespace's user may write
// them (the API server's schema aside): it must never panic nor fail on
// them, and what it compiles must be a Set the proxies accept, deciding
// the same after the trip through JSON.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(buyJSON), []byte(routesJSON), []byte(`{"metadata":{"namespace":"bookstore","name":"db"},"spec":{"matches":{"ports":[5432]}}}`),
		[]byte(`{"metadata":{"namespace":"bookstore","name":"web"},"spec":{"backends":[{"name":"bookstore","port":{"number":80}}],"sources":[{"kind":"IPRange","name":"198.18.5.0/24"}]}}`))
	f.Add([]byte(`{"metadata":{"namespace":"bookstore","name":"t"},"spec":{"destination":{"kind":"ServiceAccount","name":"bookstore","port":5432},"rules":[{"kind":"TCPRoute","name":"db"},{"kind":"HTTPRouteGroup","name":"bookstore-routes","matches":["x","buy"]}],"sources":[{"kind":"ServiceAccount","name":"a"}]}}`),
		[]byte(`{"metadata":{"namespace":"bookstore","name":"bookstore-routes"},"spec":{"matches":[{"name":"buy","headers":{"HOST":"(","x-a":""}},{"name":"x","pathRegex":"\\Q"}]}}`), []byte(`{}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, ttJSON, groupJSON, routeJSON, ibJSON []byte) {
		c := Cluster{
			TrustDomain: "cluster.local",
			Services: []Service{{Namespace: "bookstore", Name: "bookstore", Ports: []ServicePort{{Port: 80, TargetPort: 14001}, {Port: 5432, TargetPort: 5432}},
				Identities: []identity.ID{mustID("bookstore", "bookstore")}}},
		}
		var tt TrafficTarget
		if json.Unmarshal(ttJSON, &tt) == nil {
			c.TrafficTargets = append(c.TrafficTargets, tt)
		}
		var g HTTPRouteGroup
		if json.Unmarshal(groupJSON, &g) == nil {
			c.HTTPRouteGroups = append(c.HTTPRouteGroups, g)
		}
		var r TCPRoute
		if json.Unmarshal(routeJSON, &r) == nil {
			c.TCPRoutes = append(c.TCPRoutes, r)
		}
		var ib IngressBackend
		if json.Unmarshal(ibJSON, &ib) == nil {
			c.IngressBackends = append(c.IngressBackends, ib)
		}
		s, _, err := Compile(c)
		if err != nil {
			t.Fatalf("Compile failed on one object of each kind: %v", err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := policy.DecodeSet(b, policy.DefaultLimits())
		if err != nil {
			t.Fatalf("the proxies refuse the compiled set: %v\n%s", err, b)
		}
		for i := range s.Policies {
			p := &s.Policies[i]
			p2 := s2.For(p.Destination)
			var sources []identity.ID
			for _, tg := range p.Targets {
				sources = append(sources, tg.Sources...)
			}
			sources = append(sources, identity.ID{})
			for _, src := range sources {
				for _, port := range []uint16{80, 5432, 14001} {
					req := policy.Request{Source: src, SourceIP: netip.MustParseAddr("198.18.5.1"), Port: port, Method: "GET", Host: "Bookstore", Target: "/api/buy", Header: policy.HeaderMap{"X-A": {""}}}
					if d, d2 := p.HTTP(&req), p2.HTTP(&req); d != d2 {
						t.Fatalf("HTTP before the trip %+v, after %+v", d, d2)
					}
					if d, d2 := p.TCP(src, req.SourceIP, port), p2.TCP(src, req.SourceIP, port); d != d2 {
						t.Fatalf("TCP before the trip %+v, after %+v", d, d2)
					}
				}
			}
		}
	})
}

func mustID(ns, sa string) identity.ID {
	id, err := identity.NewID("cluster.local", ns, sa)
	if err != nil {
		panic(err)
	}
	return id
}
