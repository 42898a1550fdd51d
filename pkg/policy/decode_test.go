package policy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meshctl/meshctl/pkg/identity"
)

// TestDecodeSetRoundTrip: what the controller encodes, the proxy decodes
// to a policy that decides the same.
func TestDecodeSetRoundTrip(t *testing.T) {
	p := bookstore(t, false)
	b, err := json.Marshal(Set{Policies: []Policy{*p}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := DecodeSet(b, DefaultLimits())
	if err != nil {
		t.Fatalf("DecodeSet(%s): %v", b, err)
	}
	q := s.For(p.Destination)
	for _, c := range []httpCase{
		{src: "bookbuyer/bookbuyer", target: "/api/buy"},
		{src: "ops/admin", target: "/admin", header: HeaderMap{"X-Role": {"root"}}},
		{src: "bookthief/bookthief", target: "/books/1"},
		{ip: "198.18.5.1", target: "/"},
	} {
		r := c.request(t)
		if got, want := q.HTTP(&r), p.HTTP(&r); got != want {
			t.Errorf("decoded: HTTP(%s) = %+v, before encoding %+v", r.Target, got, want)
		}
	}
}

// TestDecodeSetRefuses is the decoder's table: each broken set is
// refused with an error naming the object at fault.
func TestDecodeSetRefuses(t *testing.T) {
	const (
		dst  = `"destination":"spiffe://cluster.local/ns/bookstore/sa/bookstore"`
		src  = `"sources":["spiffe://cluster.local/ns/a/sa/b"]`
		http = `{"index":0,"kind":"HTTPRouteGroup","name":"g","http":[%s]}`
	)
	target := func(rule string) string {
		return `{"policies":[{` + dst + `,"targets":[{"name":"ns/tt",` + src + `,"rules":[` + rule + `]}]}]}`
	}
	match := func(m string) string { return target(strings.Replace(http, "%s", m, 1)) }
	for _, c := range []struct{ name, json, want string }{
		{"not JSON", `{`, "policy set"},
		{"trailing data", `{"policies":[]} {}`, "data after"},
		{"no destination", `{"policies":[{}]}`, "policy 0 has no destination"},
		{"bad destination", `{"policies":[{"destination":"spiffe://x/ns/a"}]}`, "policy set"},
		{"unsorted", `{"policies":[{"destination":"spiffe://cluster.local/ns/b/sa/b"},{"destination":"spiffe://cluster.local/ns/a/sa/a"}]}`, `policy for "spiffe://cluster.local/ns/a/sa/a": not sorted`},
		{"duplicate", `{"policies":[{` + dst + `},{` + dst + `}]}`, "listed twice"},
		{"permissive mismatch", `{"policies":[{` + dst + `,"permissive":true}]}`, "permissive true in a set with permissive false"},
		{"target without name", `{"policies":[{` + dst + `,"targets":[{}]}]}`, "TrafficTarget 0: name"},
		{"unsorted targets", `{"policies":[{` + dst + `,"targets":[{"name":"b/b"},{"name":"a/a"}]}]}`, `TrafficTarget "a/a": not sorted`},
		{"empty source", `{"policies":[{` + dst + `,"targets":[{"name":"ns/tt","sources":[""]}]}]}`, `TrafficTarget "ns/tt": source 0: no identity`},
		{"bad source", `{"policies":[{` + dst + `,"targets":[{"name":"ns/tt","sources":["spiffe://cluster.local/ns/A/sa/b"]}]}]}`, "policy set"},
		{"bad kind", target(`{"index":0,"kind":"GRPCRoute","name":"g"}`), `TrafficTarget "ns/tt": rule 0 (GRPCRoute "g"): kind`},
		{"rule indexes", target(`{"index":1,"kind":"TCPRoute","name":"t","tcp":{"anyPort":true}},{"index":1,"kind":"TCPRoute","name":"t","tcp":{"anyPort":true}}`), "rule 1: index 1"},
		{"tcp rule without match", target(`{"index":0,"kind":"TCPRoute","name":"t"}`), `rule 0 (TCPRoute "t"): a TCPRoute rule needs`},
		{"tcp ports and any", target(`{"index":0,"kind":"TCPRoute","name":"t","tcp":{"anyPort":true,"ports":[80]}}`), "want either anyPort or ports"},
		{"tcp no ports", target(`{"index":0,"kind":"TCPRoute","name":"t","tcp":{}}`), "want either anyPort or ports"},
		{"tcp port 0", target(`{"index":0,"kind":"TCPRoute","name":"t","tcp":{"ports":[0]}}`), "want non-zero"},
		{"tcp unsorted", target(`{"index":0,"kind":"TCPRoute","name":"t","tcp":{"ports":[81,80]}}`), "sorted and distinct"},
		{"http with tcp", target(`{"index":0,"kind":"HTTPRouteGroup","name":"g","tcp":{"anyPort":true}}`), "an HTTPRouteGroup rule with a TCP match"},
		{"no methods", match(`{"name":"m"}`), `match "m": 0 methods`},
		{"bad method", match(`{"name":"m","methods":["G T"]}`), `match "m": method "G T" is not a token`},
		{"bad path regex", match(`{"name":"m","methods":["*"],"pathRegex":"/a)|(.*"}`), `rule 0 (HTTPRouteGroup "g"): match "m": pathRegex: regular expression "/a)|(.*"`},
		{"unterminated quote", match(`{"name":"m","methods":["*"],"pathRegex":"/a\\Q"}`), `pathRegex: regular expression "/a\\Q" cannot be anchored`},
		{"long regex", match(`{"name":"m","methods":["*"],"pathRegex":"` + strings.Repeat("a", MaxRegexLen+1) + `"}`), "the most is 1024"},
		{"header not canonical", match(`{"name":"m","methods":["*"],"headers":[{"name":"x-role"}]}`), `header "x-role": want a field name in canonical form`},
		{"header unsorted", match(`{"name":"m","methods":["*"],"headers":[{"name":"X-B"},{"name":"X-A"}]}`), `header "X-A": not sorted`},
		{"header bad regex", match(`{"name":"m","methods":["*"],"headers":[{"name":"X-A","value":"("}]}`), `header "X-A": regular expression "("`},
		{"ingress without name", `{"policies":[{` + dst + `,"ingress":[{}]}]}`, "IngressBackend 0: name"},
		{"ingress port 0", `{"policies":[{` + dst + `,"ingress":[{"name":"ns/ib","backend":"s:80","protocol":"http"}]}]}`, `IngressBackend "ns/ib" backend "s:80": port 0`},
		{"ingress protocol", `{"policies":[{` + dst + `,"ingress":[{"name":"ns/ib","backend":"s:80","port":80,"protocol":"grpc"}]}]}`, `protocol "grpc"`},
		{"ingress host bits", `{"policies":[{` + dst + `,"ingress":[{"name":"ns/ib","backend":"s:80","port":80,"protocol":"http","ipRanges":["10.0.0.1/8"]}]}]}`, "IP range 10.0.0.1/8"},
		{"ingress mapped", `{"policies":[{` + dst + `,"ingress":[{"name":"ns/ib","backend":"s:80","port":80,"protocol":"http","ipRanges":["::ffff:10.0.0.0/104"]}]}]}`, "IPv4-mapped"},
		{"ingress bad range", `{"policies":[{` + dst + `,"ingress":[{"name":"ns/ib","backend":"s:80","port":80,"protocol":"http","ipRanges":["10.0.0.0/33"]}]}]}`, "policy set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := DecodeSet([]byte(c.json), DefaultLimits())
			if err == nil {
				t.Fatalf("DecodeSet(%s) = %+v, want an error", c.json, s)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("DecodeSet: %v\nwant it to say %q", err, c.want)
			}
		})
	}
}

// TestDecodeSetLimits: each bound holds at its limit plus one.
func TestDecodeSetLimits(t *testing.T) {
	lim := Limits{Policies: 1, Targets: 1, Sources: 1, Rules: 1, Matches: 1, Methods: 1, Headers: 1, Ports: 1, Ingress: 1, IPRanges: 1, Regexes: 1}
	ok := `{"policies":[{"destination":"spiffe://cluster.local/ns/d/sa/d","targets":[{"name":"ns/tt","sources":["spiffe://cluster.local/ns/a/sa/b"],"rules":[{"index":0,"kind":"HTTPRouteGroup","name":"g","http":[{"name":"m","methods":["GET"],"pathRegex":"/","headers":[{"name":"X-A"}]}]}]}],"ingress":[{"name":"ns/ib","backend":"s:80","port":80,"protocol":"tcp","ipRanges":["10.0.0.0/8"],"sources":["spiffe://cluster.local/ns/a/sa/b"]}]}]}`
	if _, err := DecodeSet([]byte(ok), lim); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
	for name, over := range map[string][2]string{
		"policies": {`"policies":[{`, `"policies":[{"destination":"spiffe://cluster.local/ns/c/sa/c"},{`},
		"targets":  {`"targets":[{"name":"ns/tt"`, `"targets":[{"name":"ns/ta"},{"name":"ns/tt"`},
		"sources":  {`"sources":["spiffe://cluster.local/ns/a/sa/b"],"rules"`, `"sources":["spiffe://cluster.local/ns/a/sa/b","spiffe://cluster.local/ns/a/sa/c"],"rules"`},
		"rules":    {`"rules":[{`, `"rules":[{"index":0,"kind":"TCPRoute","name":"t","tcp":{"anyPort":true}},{"index":1,`},
		"matches":  {`"http":[{`, `"http":[{"name":"n","methods":["GET"]},{`},
		"methods":  {`"methods":["GET"]`, `"methods":["GET","PUT"]`},
		"headers":  {`"headers":[{"name":"X-A"}]`, `"headers":[{"name":"X-A"},{"name":"X-B"}]`},
		"regexes":  {`"headers":[{"name":"X-A"}]`, `"headers":[{"name":"X-A","value":"a"}]`},
		"ingress":  {`"ingress":[{`, `"ingress":[{"name":"ns/ia","backend":"s:81","port":81,"protocol":"tcp"},{`},
		"ipRanges": {`"ipRanges":["10.0.0.0/8"]`, `"ipRanges":["10.0.0.0/8","11.0.0.0/8"]`},
	} {
		data := strings.Replace(ok, over[0], over[1], 1)
		if data == ok {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if _, err := DecodeSet([]byte(data), lim); err == nil || !strings.Contains(err.Error(), "the most is") && !strings.Contains(err.Error(), "more than") {
			t.Errorf("%s over the limit: %v, want a limit error", name, err)
		}
	}
}

// TestDecodeForDecidesAsDecodeSet: a proxy's own policy, decoded alone,
// decides every request as the whole set's For does; another destination's
// broken rule (a regex too costly to compile) does not stop it, while the
// whole set's decoder refuses it.
func TestDecodeForDecidesAsDecodeSet(t *testing.T) {
	store := bookstore(t, false)
	other := id(t, "zz", "other")
	b, err := json.Marshal(Set{Policies: []Policy{*store, {Destination: other, Targets: []Target{{Name: "zz/t",
		Sources: []identity.ID{other}, Rules: []Rule{{Kind: KindHTTP, Name: "g", HTTP: []HTTPMatch{{Name: "m", Methods: []string{"*"},
			PathRegex: &Regex{src: `(?:\pL{100}\pN{100}\pP{100}){8}`}}}}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeSet(b, DefaultLimits()); err == nil {
		t.Fatal("the whole set decoded, though one policy's regex is too costly")
	}
	p, err := DecodeFor(b, store.Destination, DefaultLimits())
	if err != nil {
		t.Fatalf("the proxy's own policy: %v", err)
	}
	whole, err := json.Marshal(Set{Policies: []Policy{*store}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := DecodeSet(whole, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := set.For(store.Destination)
	for _, src := range []string{"bookbuyer/bookbuyer", "bookthief/bookthief", "ops/admin", ""} {
		for _, target := range []string{"/api/buy", "/api/steal", "/admin/x", "/"} {
			c := httpCase{src: src, method: "GET", target: target}
			r := c.request(t)
			if got, w := p.HTTP(&r), want.HTTP(&r); got != w {
				t.Errorf("%s GET %s: DecodeFor decided %+v, DecodeSet %+v", src, target, got, w)
			}
		}
	}
	if q, err := DecodeFor(b, id(t, "nobody", "x"), DefaultLimits()); err != nil || q.Permissive || len(q.Targets) != 0 {
		t.Errorf("an unnamed destination: %+v, %v; want a policy that allows nothing", q, err)
	}
	if _, err := DecodeFor([]byte(`{"permissive":false,"policies":[{"destination":"spiffe://cluster.local/ns/b/sa/b"},{"destination":"spiffe://cluster.local/ns/a/sa/a"}]}`), store.Destination, DefaultLimits()); err == nil {
		t.Error("an unsorted set was accepted")
	}
}
