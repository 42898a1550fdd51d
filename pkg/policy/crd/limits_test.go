package crd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/policy"
)

// TestOneObjectCannotBreakTheMesh: whatever one namespace's user writes,
// Compile still produces a Set the proxies accept; what is over a limit
// or would be refused is left out with a finding, and allows nothing.
func TestOneObjectCannotBreakTheMesh(t *testing.T) {
	headers := map[string]string{}
	for i := range policy.DefaultLimits().Headers + 1 {
		headers[fmt.Sprintf("x-h%d", i)] = "v"
	}
	group := HTTPRouteGroup{Metadata: ObjectMeta{Namespace: "bookstore", Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: []HTTPMatch{
		{Name: "bad-method", Methods: []string{"G T"}},
		{Name: "bad-header", Headers: map[string]string{"x a": "v"}},
		{Name: "many-headers", Headers: headers},
		{Name: "good", PathRegex: "/ok"},
	}}}
	var tts []TrafficTarget
	for i := range policy.DefaultLimits().Targets + 1 {
		tts = append(tts, TrafficTarget{Metadata: ObjectMeta{Namespace: "bookstore", Name: fmt.Sprintf("t%04d", i)}, Spec: TrafficTargetSpec{
			Destination: IdentityBindingSubject{Kind: KindServiceAccount, Name: "bookstore"},
			Sources:     []IdentityBindingSubject{{Kind: KindServiceAccount, Name: "bookbuyer", Namespace: "bookbuyer"}},
			Rules:       []TrafficTargetRule{{Kind: KindHTTPRouteGroup, Name: "g"}},
		}})
	}
	s, fs, err := Compile(Cluster{TrustDomain: "cluster.local", TrafficTargets: tts, HTTPRouteGroups: []HTTPRouteGroup{group}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var msgs []string
	for _, f := range fs {
		msgs = append(msgs, f.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`HTTPRouteGroup "bookstore/g": spec.matches[0]: match "bad-method": method "G T" is not a token`,
		`HTTPRouteGroup "bookstore/g": spec.matches[1]: match "bad-header": header "x a"`,
		`HTTPRouteGroup "bookstore/g": spec.matches[2]: match "many-headers": 33 headers, the most is 32`,
		`TrafficTarget "bookstore/t1024": spiffe://cluster.local/ns/bookstore/sa/bookstore has more than 1024 TrafficTargets; this one is left out and allows nothing`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no finding says %s", want)
		}
	}
	p := s.For(mustID("bookstore", "bookstore"))
	r := policy.Request{Source: mustID("bookbuyer", "bookbuyer"), Port: 80, Method: "GET", Target: "/ok"}
	if d := p.HTTP(&r); !d.Allow || d.Name != "bookstore/t0000" {
		t.Errorf("the good match: %+v, want allowed by bookstore/t0000", d)
	}
	r.Target = "/other"
	if d := p.HTTP(&r); d.Allow {
		t.Errorf("a broken match allowed: %+v", d)
	}
}

// TestRegexBudget: past the Set's budget of regular expressions, whole
// TrafficTargets are left out, the later ones in order.
func TestRegexBudget(t *testing.T) {
	lim := policy.DefaultLimits()
	var matches []HTTPMatch
	for i := range lim.Matches {
		matches = append(matches, HTTPMatch{Name: fmt.Sprintf("m%d", i), PathRegex: fmt.Sprintf("/p%d", i)})
	}
	n := lim.Regexes/lim.Matches + 1
	var tts []TrafficTarget
	for i := range n {
		tts = append(tts, TrafficTarget{Metadata: ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("t%03d", i)}, Spec: TrafficTargetSpec{
			Destination: IdentityBindingSubject{Kind: KindServiceAccount, Name: fmt.Sprintf("d%03d", i)},
			Sources:     []IdentityBindingSubject{{Kind: KindServiceAccount, Name: "c"}},
			Rules:       []TrafficTargetRule{{Kind: KindHTTPRouteGroup, Name: "g"}},
		}})
	}
	s, fs, err := Compile(Cluster{TrustDomain: "cluster.local", TrafficTargets: tts, HTTPRouteGroups: []HTTPRouteGroup{{Metadata: ObjectMeta{Namespace: "ns", Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: matches}}}})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	last := fmt.Sprintf("ns/t%03d", n-1)
	if len(fs) != 1 || !strings.Contains(fs[0].String(), `TrafficTarget "`+last+`"`) || !strings.Contains(fs[0].String(), "regular expressions") {
		t.Fatalf("findings %v, want one leaving out %s", fs, last)
	}
	r := policy.Request{Source: mustID("ns", "c"), Port: 80, Method: "GET", Target: "/p1"}
	if d := s.For(mustID("ns", "d000")).HTTP(&r); !d.Allow {
		t.Errorf("the first TrafficTarget: %+v", d)
	}
	if d := s.For(mustID("ns", fmt.Sprintf("d%03d", n-1))).HTTP(&r); d.Allow {
		t.Errorf("the TrafficTarget over the budget allowed: %+v", d)
	}
}
