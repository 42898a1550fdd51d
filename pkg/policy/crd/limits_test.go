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
// TrafficTargets are left out, the later ones in order. Each is in a
// namespace of its own, within that namespace's share.
func TestRegexBudget(t *testing.T) {
	lim := policy.DefaultLimits()
	var matches []HTTPMatch
	for i := range lim.Matches {
		matches = append(matches, HTTPMatch{Name: fmt.Sprintf("m%d", i), PathRegex: fmt.Sprintf("/p%d", i)})
	}
	n := lim.Regexes/lim.Matches + 1
	var tts []TrafficTarget
	var groups []HTTPRouteGroup
	for i := range n {
		ns := fmt.Sprintf("ns%03d", i)
		tts = append(tts, TrafficTarget{Metadata: ObjectMeta{Namespace: ns, Name: "t"}, Spec: TrafficTargetSpec{
			Destination: IdentityBindingSubject{Kind: KindServiceAccount, Name: "d"},
			Sources:     []IdentityBindingSubject{{Kind: KindServiceAccount, Name: "c"}},
			Rules:       []TrafficTargetRule{{Kind: KindHTTPRouteGroup, Name: "g"}},
		}})
		groups = append(groups, HTTPRouteGroup{Metadata: ObjectMeta{Namespace: ns, Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: matches}})
	}
	s, fs, err := Compile(Cluster{TrustDomain: "cluster.local", TrafficTargets: tts, HTTPRouteGroups: groups})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	last := fmt.Sprintf("ns%03d", n-1)
	if len(fs) != 1 || !strings.Contains(fs[0].String(), `TrafficTarget "`+last+`/t"`) || !strings.Contains(fs[0].String(), "regular expressions") {
		t.Fatalf("findings %v, want one leaving out %s/t", fs, last)
	}
	r := policy.Request{Source: mustID("ns000", "c"), Port: 80, Method: "GET", Target: "/p1"}
	if d := s.For(mustID("ns000", "d")).HTTP(&r); !d.Allow {
		t.Errorf("the first TrafficTarget: %+v", d)
	}
	r.Source = mustID(last, "c")
	if d := s.For(mustID(last, "d")).HTTP(&r); d.Allow {
		t.Errorf("the TrafficTarget past the budget allowed: %+v", d)
	}
}

// TestNamespaceShare: a namespace that writes more than its share (here
// regular expressions, for destinations named first) has the excess left
// out, and another namespace's policy, named after it, is untouched
// (review finding: one namespace could fill the mesh-wide budget and
// leave others' destinations denying everything).
func TestNamespaceShare(t *testing.T) {
	lim := policy.DefaultLimits()
	var matches []HTTPMatch
	for i := range lim.Matches {
		matches = append(matches, HTTPMatch{Name: fmt.Sprintf("m%d", i), PathRegex: fmt.Sprintf("/p%d", i)})
	}
	// Exactly the mesh's budget, in destinations named before shop's.
	var tts []TrafficTarget
	full := lim.Regexes / lim.Matches
	for i := range full + 1 {
		group := "g"
		if i == full {
			group = "rest"
		}
		tts = append(tts, TrafficTarget{Metadata: ObjectMeta{Namespace: "aaa", Name: fmt.Sprintf("t%03d", i)}, Spec: TrafficTargetSpec{
			Destination: IdentityBindingSubject{Kind: KindServiceAccount, Name: fmt.Sprintf("d%03d", i)},
			Sources:     []IdentityBindingSubject{{Kind: KindServiceAccount, Name: "c"}},
			Rules:       []TrafficTargetRule{{Kind: KindHTTPRouteGroup, Name: group}},
		}})
	}
	tts = append(tts, TrafficTarget{Metadata: ObjectMeta{Namespace: "shop", Name: "db"}, Spec: TrafficTargetSpec{
		Destination: IdentityBindingSubject{Kind: KindServiceAccount, Name: "db"},
		Sources:     []IdentityBindingSubject{{Kind: KindServiceAccount, Name: "web"}},
		Rules:       []TrafficTargetRule{{Kind: KindHTTPRouteGroup, Name: "g"}},
	}})
	groups := []HTTPRouteGroup{
		{Metadata: ObjectMeta{Namespace: "aaa", Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: matches}},
		{Metadata: ObjectMeta{Namespace: "aaa", Name: "rest"}, Spec: HTTPRouteGroupSpec{Matches: matches[:lim.Regexes-full*lim.Matches]}},
		{Metadata: ObjectMeta{Namespace: "shop", Name: "g"}, Spec: HTTPRouteGroupSpec{Matches: matches[:1]}},
	}
	s, fs, err := Compile(Cluster{TrustDomain: "cluster.local", TrafficTargets: tts, HTTPRouteGroups: groups})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	r := policy.Request{Source: mustID("shop", "web"), Port: 80, Method: "GET", Target: "/p0"}
	if d := s.For(mustID("shop", "db")).HTTP(&r); !d.Allow {
		t.Fatalf("shop/db's own TrafficTarget was crowded out by namespace aaa: %+v", d)
	}
	if len(fs) == 0 || !strings.Contains(fs[0].String(), `namespace "aaa"`) {
		t.Errorf("findings %v, want aaa's excess named", fs[:min(len(fs), 3)])
	}
}
