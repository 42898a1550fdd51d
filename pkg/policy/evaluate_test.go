package policy

import (
	"net/netip"
	"testing"

	"github.com/meshctl/meshctl/pkg/identity"
)

type httpCase struct {
	name   string
	src    string // "ns/sa" or "" for plain text
	ip     string
	port   uint16
	method string
	host   string
	target string
	header HeaderMap
	want   Decision
}

func allowTT(name string, rule int, match string) Decision {
	return Decision{Allow: true, Reason: ReasonTrafficTarget, Kind: KindTrafficTarget, Name: name, Rule: rule, Match: match}
}

func allowIngress(name, backend string) Decision {
	return Decision{Allow: true, Reason: ReasonIngressBackend, Kind: KindIngressBackend, Name: name, Match: backend}
}

func denied(r Reason) Decision { return Decision{Reason: r} }

var allowPermissive = Decision{Allow: true, Reason: ReasonPermissive}

// TestHTTPMatrix is the policy matrix of issue #17: every way a request
// may fail to be allowed, each next to the request that is allowed.
func TestHTTPMatrix(t *testing.T) {
	buy := allowTT("bookstore/buy", 0, "buy")
	admin := allowTT("bookstore/admin", 0, "admin")
	adminHdr := HeaderMap{"X-Role": {"admin"}}
	for _, c := range []httpCase{
		{name: "listed source, matching rule", src: "bookbuyer/bookbuyer", target: "/api/buy", want: buy},
		{name: "unlisted source", src: "default/stranger", target: "/api/buy", want: denied(ReasonSourceNotAllowed)},
		{name: "same name, other namespace", src: "other/bookbuyer", target: "/api/buy", want: denied(ReasonSourceNotAllowed)},
		{name: "the destination itself", src: "bookstore/bookstore", target: "/api/buy", want: denied(ReasonSourceNotAllowed)},
		{name: "wrong method", src: "bookbuyer/bookbuyer", method: "POST", target: "/api/buy", want: denied(ReasonNoRuleMatched)},
		{name: "method case", src: "bookbuyer/bookbuyer", method: "get", target: "/api/buy", want: denied(ReasonInvalidMethod)},
		{name: "not a method the proxy takes for HTTP", src: "bookbuyer/bookbuyer", method: "GET2", target: "/api/buy", want: denied(ReasonInvalidMethod)},
		{name: "anchored regex, longer path", src: "bookbuyer/bookbuyer", target: "/api/buy/more", want: denied(ReasonNoRuleMatched)},
		{name: "anchored regex, path suffix", src: "bookbuyer/bookbuyer", target: "/x/api/buy", want: denied(ReasonNoRuleMatched)},
		{name: "unanchored regex is whole-path", src: "bookthief/bookthief", target: "/books", want: allowTT("bookstore/list", 0, "list")},
		{name: "unanchored regex, prefix", src: "bookthief/bookthief", target: "/books/1", want: denied(ReasonNoRuleMatched)},
		{name: "unanchored regex, substring", src: "bookthief/bookthief", target: "/x/books", want: denied(ReasonNoRuleMatched)},
		{name: "several TrafficTargets are a union (1)", src: "bookthief/bookthief", target: "/api/buy", want: buy},
		{name: "several TrafficTargets are a union (2)", src: "bookthief/bookthief", method: "HEAD", target: "/books", want: allowTT("bookstore/list", 0, "list")},
		{name: "second match of a rule", src: "bookthief/bookthief", target: "/shelf/1", header: HeaderMap{"X-Shelf": {""}}, want: allowTT("bookstore/list", 0, "any-get")},
		{name: "header presence: missing", src: "bookthief/bookthief", target: "/shelf/1", want: denied(ReasonNoRuleMatched)},
		{name: "TrafficTarget without rules", src: "other/x", target: "/api/buy", want: denied(ReasonSourceNotAllowed)},
		{name: "rule with no match that compiled", src: "bookbuyer/bookbuyer", target: "/anything", want: denied(ReasonNoRuleMatched)},
		{name: "TCPRoute allows HTTP on its port", src: "bookbuyer/bookbuyer", port: 5432, target: "/anything", want: allowTT("bookstore/tcp", 1, "pg")},
		{name: "destination port of the TrafficTarget", src: "other/x", port: 9090, target: "/metrics", want: allowTT("bookstore/metrics", 0, "")},
		{name: "wrong port for the TrafficTarget", src: "other/x", port: 9091, target: "/metrics", want: denied(ReasonSourceNotAllowed)},
		{name: "header matches", src: "ops/admin", target: "/admin/users", header: adminHdr, want: admin},
		{name: "header second alternative", src: "ops/admin", target: "/admin", header: HeaderMap{"X-Role": {"root"}}, want: admin},
		{name: "header missing", src: "ops/admin", target: "/admin", want: denied(ReasonNoRuleMatched)},
		{name: "header value partly matches", src: "ops/admin", target: "/admin", header: HeaderMap{"X-Role": {"admins"}}, want: denied(ReasonNoRuleMatched)},
		{name: "header value contains match", src: "ops/admin", target: "/admin", header: HeaderMap{"X-Role": {"x-admin"}}, want: denied(ReasonNoRuleMatched)},
		{name: "header repeated, one not matching", src: "ops/admin", target: "/admin", header: HeaderMap{"X-Role": {"admin", "guest"}}, want: denied(ReasonNoRuleMatched)},
		{name: "header repeated, all matching", src: "ops/admin", target: "/admin", header: HeaderMap{"X-Role": {"admin", "root"}}, want: admin},
		{name: "host in upper case with port", src: "ops/admin", host: "BookStore.BOOKSTORE:14001", target: "/admin", header: adminHdr, want: admin},
		{name: "host with trailing dot", src: "ops/admin", host: "bookstore.bookstore.", target: "/admin", header: adminHdr, want: admin},
		{name: "other host", src: "ops/admin", host: "bookstore.evil", target: "/admin", header: adminHdr, want: denied(ReasonNoRuleMatched)},
		{name: "identity is not taken from a header", src: "", ip: "198.18.9.9", target: "/api/buy", header: HeaderMap{"X-Forwarded-Client-Cert": {"URI=spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer"}}, want: denied(ReasonNoIdentity)},
		{name: "plain text", src: "", ip: "198.18.9.9", target: "/api/buy", want: denied(ReasonNoIdentity)},
		{name: "plain text from an IngressBackend range", src: "", ip: "198.18.5.7", target: "/anything", want: allowIngress("bookstore/ingress", "bookstore:80")},
		{name: "plain text from the range, IPv4-mapped", src: "", ip: "::ffff:198.18.5.7", target: "/", want: allowIngress("bookstore/ingress", "bookstore:80")},
		{name: "plain text from the range, other port", src: "", ip: "198.18.5.7", port: 14002, target: "/", want: denied(ReasonNoIdentity)},
		{name: "plain text from the range of a tcp backend", src: "", ip: "198.18.6.1", port: 5433, target: "/", want: allowIngress("bookstore/ingress-tcp", "bookstore:5433")},
		{name: "plain text from an IPv6 range", src: "", ip: "2001:db8::5", port: 5433, target: "/", want: allowIngress("bookstore/ingress-tcp", "bookstore:5433")},
		{name: "plain text next to the range", src: "", ip: "198.18.4.255", target: "/", want: denied(ReasonNoIdentity)},
		{name: "IngressBackend by identity", src: "ingress/nginx", ip: "198.18.1.1", target: "/api/buy", want: allowIngress("bookstore/ingress", "bookstore:80")},
		{name: "IngressBackend by identity, other port", src: "ingress/nginx", ip: "198.18.1.1", port: 80, target: "/", want: denied(ReasonSourceNotAllowed)},
		{name: "meshed caller from an IngressBackend range", src: "default/stranger", ip: "198.18.5.9", target: "/", want: allowIngress("bookstore/ingress", "bookstore:80")},
		// Normalization: each of these is the plain /api/buy.
		{name: "doubled slash", src: "bookbuyer/bookbuyer", target: "//api//buy", want: buy},
		{name: "dot-dot segment", src: "bookbuyer/bookbuyer", target: "/a/../api/buy", want: buy},
		{name: "dot segment", src: "bookbuyer/bookbuyer", target: "/api/./buy", want: buy},
		{name: "encoded dot-dot", src: "bookbuyer/bookbuyer", target: "/a/%2e%2e/api/buy", want: buy},

		{name: "encoded letter", src: "bookbuyer/bookbuyer", target: "/api/%62uy", want: buy},
		{name: "query", src: "bookbuyer/bookbuyer", target: "/api/buy?id=1", want: buy},
		// ... and each of these is another path than /admin.
		{name: "dot-dot out of an allowed prefix", src: "ops/admin", target: "/admin/../secret", header: adminHdr, want: denied(ReasonNoRuleMatched)},
		{name: "encoded dot-dot out of an allowed prefix", src: "ops/admin", target: "/admin/%2e%2e/secret", header: adminHdr, want: denied(ReasonNoRuleMatched)},
		// Slashes that are not a literal '/', and fragments, are refused:
		// servers disagree on them (/secret/..%5Cbooks is /books to a
		// decoder and /secret/ to Go's ServeMux).
		{name: "encoded slash", src: "bookbuyer/bookbuyer", target: "/api%2Fbuy", want: denied(ReasonInvalidPath)},
		{name: "encoded backslash", src: "bookbuyer/bookbuyer", target: "/api%5Cbuy", want: denied(ReasonInvalidPath)},
		{name: "backslash", src: "bookbuyer/bookbuyer", target: `/api\buy`, want: denied(ReasonInvalidPath)},
		{name: "backslash dot-dot into an allowed path", src: "bookbuyer/bookbuyer", target: `/secret/..\api/buy`, want: denied(ReasonInvalidPath)},
		{name: "encoded backslash dot-dot into an allowed path", src: "bookbuyer/bookbuyer", target: "/secret/..%5Capi/buy", want: denied(ReasonInvalidPath)},
		{name: "encoded slash dot-dot into an allowed path", src: "bookbuyer/bookbuyer", target: "/secret/..%2Fapi/buy", want: denied(ReasonInvalidPath)},
		{name: "fragment", src: "bookbuyer/bookbuyer", target: "/api/buy#x", want: denied(ReasonInvalidPath)},
		{name: "fragment hiding dot-dots", src: "bookbuyer/bookbuyer", target: "/api/buy#/../../admin", want: denied(ReasonInvalidPath)},
		{name: "path letter case", src: "bookbuyer/bookbuyer", target: "/API/buy", want: denied(ReasonNoRuleMatched)},
		{name: "trailing dot segment", src: "bookbuyer/bookbuyer", target: "/api/buy/.", want: denied(ReasonNoRuleMatched)},
		{name: "Tomcat path parameter dot-dot", src: "bookthief/bookthief", target: "/books/..;/admin", want: denied(ReasonInvalidPath)},
		{name: "bad escape", src: "bookbuyer/bookbuyer", target: "/api/buy%", want: denied(ReasonInvalidPath)},
		{name: "overlong UTF-8 dot-dot", src: "bookthief/bookthief", target: "/books/%c0%ae%c0%ae/admin", want: denied(ReasonInvalidPath)},
		{name: "encoded NUL", src: "bookbuyer/bookbuyer", target: "/api/buy%00.html", want: denied(ReasonInvalidPath)},
		{name: "absolute form", src: "bookbuyer/bookbuyer", target: "http://bookstore/api/buy", want: denied(ReasonInvalidPath)},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := bookstore(t, false)
			r := c.request(t)
			if got := p.HTTP(&r); got != c.want {
				t.Errorf("HTTP(%+v) = %+v, want %+v", r, got, c.want)
			}
			checkExplanation(t, p.ExplainHTTP(&r), p.HTTP(&r))
			// Permissive mode allows every one of them.
			if got := bookstore(t, true).HTTP(&r); got != allowPermissive {
				t.Errorf("permissive: HTTP(%+v) = %+v, want allowed", r, got)
			}
		})
	}
}

func (c httpCase) request(t testing.TB) Request {
	r := Request{SourceIP: netip.MustParseAddr("198.18.0.10"), Port: 14001, Method: "GET", Host: "bookstore.bookstore", Target: c.target}
	if c.src != "" {
		ns, sa, _ := cut(c.src)
		r.Source = id(t, ns, sa)
	}
	if c.ip != "" {
		r.SourceIP = netip.MustParseAddr(c.ip)
	}
	if c.port != 0 {
		r.Port = c.port
	}
	if c.method != "" {
		r.Method = c.method
	}
	if c.host != "" {
		r.Host = c.host
	}
	if c.header != nil {
		r.Header = c.header
	}
	return r
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// checkExplanation holds explain to the evaluator: the same decision, and
// steps that agree with it.
func checkExplanation(t *testing.T, e Explanation, d Decision) {
	t.Helper()
	if e.Decision != d {
		t.Fatalf("explanation's decision %+v, the evaluator's %+v", e.Decision, d)
	}
	allowing := 0
	for _, s := range e.Steps {
		if s.Allows {
			allowing++
		}
	}
	if d.Allow && allowing == 0 {
		t.Errorf("allowed (%+v) but no step allows: %+v", d, e.Steps)
	}
	if !d.Allow && allowing > 0 {
		t.Errorf("denied (%+v) but a step allows: %+v", d, e.Steps)
	}
	if d.Reason == ReasonTrafficTarget || d.Reason == ReasonIngressBackend {
		for _, s := range e.Steps {
			if s.Allows && s.Kind == d.Kind && s.Name == d.Name && (d.Kind != KindTrafficTarget || s.Rule == d.Rule) {
				return
			}
		}
		t.Errorf("decided by %s %s rule %d, which no allowing step names: %+v", d.Kind, d.Name, d.Rule, e.Steps)
	}
}

func TestTCPMatrix(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		ip   string
		port uint16
		want Decision
	}{
		{name: "TCPRoute port", src: "bookbuyer/bookbuyer", port: 5432, want: allowTT("bookstore/tcp", 1, "pg")},
		{name: "TCPRoute, other port", src: "bookbuyer/bookbuyer", port: 5431, want: denied(ReasonNoRuleMatched)},
		{name: "HTTP rules do not allow opaque TCP", src: "bookthief/bookthief", port: 14001, want: denied(ReasonNoRuleMatched)},
		{name: "unlisted source", src: "default/stranger", port: 5432, want: denied(ReasonSourceNotAllowed)},
		{name: "any port, on the TrafficTarget's port", src: "other/x", port: 9090, want: allowTT("bookstore/metrics", 0, "")},
		{name: "any port, other port", src: "other/x", port: 9091, want: denied(ReasonSourceNotAllowed)},
		{name: "plain text", ip: "198.18.9.9", port: 5432, want: denied(ReasonNoIdentity)},
		{name: "plain text, tcp IngressBackend", ip: "198.18.6.200", port: 5433, want: allowIngress("bookstore/ingress-tcp", "bookstore:5433")},
		{name: "plain text, http IngressBackend refuses opaque TCP", ip: "198.18.5.7", port: 14001, want: denied(ReasonNoIdentity)},
		{name: "identity of an http IngressBackend, opaque TCP", src: "ingress/nginx", port: 14001, want: denied(ReasonSourceNotAllowed)},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := bookstore(t, false)
			hc := httpCase{src: c.src}
			src := hc.request(t).Source
			ip := netip.MustParseAddr("198.18.0.10")
			if c.ip != "" {
				ip = netip.MustParseAddr(c.ip)
			}
			if got := p.TCP(src, ip, c.port); got != c.want {
				t.Errorf("TCP(%s, %s, %d) = %+v, want %+v", src, ip, c.port, got, c.want)
			}
			checkExplanation(t, p.ExplainTCP(src, ip, c.port), p.TCP(src, ip, c.port))
			if got := bookstore(t, true).TCP(src, ip, c.port); got != allowPermissive {
				t.Errorf("permissive: TCP = %+v, want allowed", got)
			}
		})
	}
}

// TestUnnamedDestination: a destination no policy names is closed when the
// mesh is not permissive, open when it is.
func TestUnnamedDestination(t *testing.T) {
	for _, permissive := range []bool{false, true} {
		s, err := NewSet(permissive, nil, DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		p := s.For(id(t, "a", "b"))
		r := Request{Source: id(t, "c", "d"), Port: 80, Method: "GET", Target: "/"}
		if got := p.HTTP(&r); got.Allow != permissive {
			t.Errorf("permissive %t: HTTP = %+v", permissive, got)
		}
		if got := p.TCP(id(t, "c", "d"), netip.MustParseAddr("198.18.0.1"), 80); got.Allow != permissive {
			t.Errorf("permissive %t: TCP = %+v", permissive, got)
		}
	}
	// A Policy not built through a Set has no index: it denies.
	p := &Policy{Destination: id(t, "a", "b"), Targets: []Target{{Name: "a/t", Sources: []identity.ID{id(t, "c", "d")}, Rules: []Rule{{Kind: KindTCP, TCP: &TCPMatch{AnyPort: true}}}}}}
	if got := p.TCP(id(t, "c", "d"), netip.Addr{}, 80); got.Allow {
		t.Errorf("an unindexed Policy allowed: %+v", got)
	}
}

// TestAllowPathAllocatesNothing holds the hot path to its promise, with
// the header and host matches that cost most.
func TestAllowPathAllocatesNothing(t *testing.T) {
	p := bookstore(t, false)
	for _, c := range []httpCase{
		{src: "bookbuyer/bookbuyer", target: "/api/buy?x=1"},
		{src: "ops/admin", target: "/admin/users", header: HeaderMap{"X-Role": {"admin"}}, host: "bookstore:14001"},
		{src: "bookthief/bookthief", target: "/shelf/1", header: HeaderMap{"X-Shelf": {"a"}}},
		{src: "", ip: "198.18.5.7", target: "/x"},
	} {
		r := c.request(t)
		if !p.HTTP(&r).Allow {
			t.Fatalf("%+v is denied", r)
		}
		if n := testing.AllocsPerRun(200, func() { p.HTTP(&r) }); n != 0 {
			t.Errorf("HTTP(%s %s from %s): %v allocations, want 0", r.Method, r.Target, r.Source, n)
		}
	}
	src, ip := id(t, "bookbuyer", "bookbuyer"), netip.MustParseAddr("198.18.0.10")
	if n := testing.AllocsPerRun(200, func() { p.TCP(src, ip, 5432) }); n != 0 {
		t.Errorf("TCP: %v allocations, want 0", n)
	}
}

// TestMayConnect: a connection nothing could allow is closed at once; one
// that some rule might allow waits for its requests to be decided.
func TestMayConnect(t *testing.T) {
	p := bookstore(t, false)
	for _, c := range []struct {
		src  string
		ip   string
		port uint16
		want bool
	}{
		{src: "bookbuyer/bookbuyer", port: 14001, want: true}, // HTTP rules
		{src: "bookbuyer/bookbuyer", port: 5432, want: true},  // TCPRoute
		{src: "other/x", port: 9090, want: true},
		{src: "other/x", port: 9091}, // the metrics TrafficTarget is for 9090 only; the other has no rules
		{src: "default/stranger", port: 14001},
		{ip: "198.18.9.9", port: 14001},
		{ip: "198.18.5.9", port: 14001, want: true},
		{ip: "198.18.5.9", port: 14002},
	} {
		hc := httpCase{src: c.src}
		src := hc.request(t).Source
		ip := netip.MustParseAddr("198.18.0.10")
		if c.ip != "" {
			ip = netip.MustParseAddr(c.ip)
		}
		if got := p.MayConnect(src, ip, c.port); got != c.want {
			t.Errorf("MayConnect(%s, %s, %d) = %t, want %t", src, ip, c.port, got, c.want)
		}
		if !bookstore(t, true).MayConnect(src, ip, c.port) {
			t.Errorf("permissive: MayConnect(%s, %s, %d) = false", src, ip, c.port)
		}
		// Whatever MayConnect refuses, TCP and HTTP refuse too.
		r := hc.request(t)
		r.SourceIP, r.Port = ip, c.port
		if !c.want && (p.TCP(src, ip, c.port).Allow || p.HTTP(&r).Allow) {
			t.Errorf("MayConnect(%s, %s, %d) refuses what TCP or HTTP allows", src, ip, c.port)
		}
	}
	src, ip := id(t, "bookbuyer", "bookbuyer"), netip.MustParseAddr("198.18.0.10")
	if n := testing.AllocsPerRun(100, func() { p.MayConnect(src, ip, 5432) }); n != 0 {
		t.Errorf("MayConnect: %v allocations", n)
	}
}
