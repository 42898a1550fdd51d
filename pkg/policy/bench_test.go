package policy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/meshctl/meshctl/pkg/identity"
)

// hundredTargets is a destination with 100 TrafficTargets, each with its
// own source and an HTTPRouteGroup rule of three matches (a method, an
// anchored path regex, one with a header). When worst is set, the
// caller is a source of all 100 and only the last one's rule matches, so
// every rule is tried before the allow.
func hundredTargets(b *testing.B, worst bool) (*Policy, Request) {
	dst, caller := id(b, "bookstore", "bookstore"), id(b, "bookbuyer", "bookbuyer")
	p := Policy{Destination: dst}
	for i := range 100 {
		src := id(b, fmt.Sprintf("ns%03d", i), "client")
		if worst || i == 57 {
			src = caller
		}
		path := fmt.Sprintf(`/api/v1/route%03d/[0-9]+`, i)
		if worst && i == 99 || !worst && i == 57 {
			path = `/api/buy/[0-9]+`
		}
		p.Targets = append(p.Targets, Target{
			Name:    fmt.Sprintf("bookstore/tt%03d", i),
			Sources: []identity.ID{src},
			Rules: []Rule{{Kind: KindHTTP, Name: "routes", HTTP: []HTTPMatch{
				{Name: "write", Methods: []string{"POST", "PUT"}, PathRegex: re(`/api/.*`)},
				{Name: "debug", Methods: []string{"GET"}, PathRegex: re(`/debug/.*`), Headers: []HeaderMatch{{Name: "X-Debug", Value: re(`on`)}}},
				{Name: "read", Methods: []string{"GET", "HEAD"}, PathRegex: re(path)},
			}}},
		})
	}
	s, err := NewSet(false, []Policy{p}, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	r := Request{Source: caller, SourceIP: netip.MustParseAddr("198.18.0.10"), Port: 14001, Method: "GET", Host: "bookstore.bookstore:14001", Target: "/api/buy/42?currency=eur", Header: HeaderMap{"Accept": {"*/*"}}}
	return s.For(dst), r
}

func BenchmarkHTTP(b *testing.B) {
	permissive, err := NewSet(true, nil, DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	_, r := hundredTargets(b, false)
	run := func(name string, p *Policy, r Request, allow bool) {
		b.Run(name, func(b *testing.B) {
			if got := p.HTTP(&r); got.Allow != allow {
				b.Fatalf("decision %+v", got)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.HTTP(&r)
			}
		})
	}
	run("permissive", permissive.For(r.Source), r, true)
	p, r := hundredTargets(b, false)
	run("100-targets", p, r, true)
	denied := r
	denied.Target = "/api/steal/1"
	run("100-targets-denied", p, denied, false)
	messy := r
	messy.Target = "//api/./x/../buy/%34%32"
	run("100-targets-path-to-normalize", p, messy, true)
	p, r = hundredTargets(b, true)
	run("100-targets-caller-in-all-last-matches", p, r, true)
}

func BenchmarkTCP(b *testing.B) {
	p := bookstore(b, false)
	src, ip := id(b, "bookbuyer", "bookbuyer"), netip.MustParseAddr("198.18.0.10")
	b.ReportAllocs()
	for b.Loop() {
		p.TCP(src, ip, 5432)
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, target := range []string{"/api/buy/42?currency=eur", "//api/./x/../buy/%34%32"} {
		b.Run(target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NormalizePath(target)
			}
		})
	}
}
