package policy

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

// FuzzNormalizedDecision is the bypass hunt of the CVE-2021-31920 class:
// for any request-target, the decision equals the decision on its
// normalized path written plainly, and on every other spelling of that
// path: doubled slashes, dot segments, every byte percent-encoded; and a
// spelling with a slash that is not a literal '/' (a backslash, %2F,
// %5C) or a fragment is refused, never decided otherwise. It also holds
// explain to the evaluator.
func FuzzNormalizedDecision(f *testing.F) {
	for _, s := range []string{"/api/buy", "//api//buy", "/a/../api/buy", "/api%2Fbuy", "/%2e%2e/admin", "/admin/%2e%2e%2fsecret", "/books/..;/admin", "/api/buy#x", "/api/buy?x", "/admin\\x", "/%00", "/%", "x", "/books/", "/shelf/1"} {
		f.Add(s, uint8(0), uint8(0))
	}
	sources := []string{"bookbuyer/bookbuyer", "bookthief/bookthief", "ops/admin", "other/x", ""}
	methods := []string{"GET", "HEAD", "POST", "get"}
	f.Fuzz(func(t *testing.T, target string, who, method uint8) {
		p := bookstore(t, false)
		c := httpCase{src: sources[int(who)%len(sources)], method: methods[int(method)%len(methods)], target: target, header: HeaderMap{"X-Role": {"admin"}, "X-Shelf": {"1"}}}
		r := c.request(t)
		d := p.HTTP(&r)
		checkExplanation(t, p.ExplainHTTP(&r), d)
		if d.Allow && !p.MayConnect(r.Source, r.SourceIP, r.Port) {
			t.Fatalf("%+v allowed, but MayConnect refuses its connection", d)
		}
		np, bad := NormalizePath(target)
		if bad != "" {
			if d.Allow || d.Reason != bad {
				t.Fatalf("target %q does not normalize (%s) but the decision is %+v", target, bad, d)
			}
			return
		}
		if np == "" || np[0] != '/' || strings.Contains(np, "//") {
			t.Fatalf("NormalizePath(%q) = %q: not a normal path", target, np)
		}
		plain := escapePath(np)
		// Every spelling keeps the leading '/' that makes it a path.
		rest := plain[1:]
		for _, v := range []string{
			plain,
			plain + "?q=/../x#/../y",
			"/" + strings.ReplaceAll(plain, "/", "//"),
			strings.ReplaceAll(plain, "/", "/zz/../"),
			strings.ReplaceAll(plain, "/", "/./"),
			encodeAll(np),
		} {
			rv := r
			rv.Target = v
			if got := p.HTTP(&rv); got != d {
				t.Fatalf("target %q (normal %q) decided %+v; its spelling %q decided %+v", target, np, d, v, got)
			}
		}
		refused := []string{plain + "#x", "/zz/..%2F" + rest, "/zz/..%5c" + rest, `/zz/..\` + rest}
		if strings.Contains(rest, "/") {
			refused = append(refused, "/"+strings.Replace(rest, "/", `\`, 1), "/"+strings.Replace(rest, "/", "%2F", 1))
		}
		for _, v := range refused {
			rv := r
			rv.Target = v
			if got := p.HTTP(&rv); got.Allow || got.Reason != ReasonInvalidPath {
				t.Fatalf("target %q (normal %q): its spelling %q decided %+v, want refused as invalid-path", target, np, v, got)
			}
		}
	})
}

// encodeAll percent-encodes every byte of p but its slashes, which must
// stay literal.
func encodeAll(p string) string {
	const hex = "0123456789abcdef"
	b := []byte{'/'}
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			b = append(b, '/')
			continue
		}
		b = append(b, '%', hex[p[i]>>4], hex[p[i]&15])
	}
	return string(b)
}

// FuzzDecodeSet feeds the proxy's decoder arbitrary bytes: it must never
// panic, and a set it accepts must evaluate without panicking, explain as
// it decides, and decide the same after a round trip through JSON.
func FuzzDecodeSet(f *testing.F) {
	b, err := json.Marshal(Set{Policies: []Policy{*bookstore(f, false)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"permissive":true,"policies":[]}`))
	f.Add([]byte(`{"policies":[{"destination":"spiffe://cluster.local/ns/a/sa/b","targets":[{"name":"a/t","sources":["spiffe://cluster.local/ns/c/sa/d"],"rules":[{"index":0,"kind":"TCPRoute","name":"t","tcp":{"ports":[80]}}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSet(data, DefaultLimits())
		if err != nil {
			return
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("an accepted set does not encode: %v", err)
		}
		s2, err := DecodeSet(again, DefaultLimits())
		if err != nil {
			t.Fatalf("an accepted set, encoded again, is refused: %v\n%s", err, again)
		}
		for _, p := range s.Policies {
			if _, err := DecodeFor(data, p.Destination, DefaultLimits()); err != nil {
				t.Fatalf("the set decodes whole but not for %s: %v", p.Destination, err)
			}
		}
		for i := range s.Policies {
			p, p2 := &s.Policies[i], s2.For(s.Policies[i].Destination)
			var srcs []Request
			srcs = append(srcs, Request{SourceIP: netip.MustParseAddr("10.1.2.3")})
			for _, tg := range p.Targets {
				for _, src := range tg.Sources {
					srcs = append(srcs, Request{Source: src})
				}
			}
			for _, r := range srcs {
				for _, port := range []uint16{80, 443, 5432, 9090} {
					for _, target := range []string{"/", "/api/buy", "/a/../b"} {
						r.Port, r.Method, r.Target, r.Host = port, "GET", target, "h"
						d := p.HTTP(&r)
						if e := p.ExplainHTTP(&r); e.Decision != d {
							t.Fatalf("explain %+v, HTTP %+v", e.Decision, d)
						}
						if d2 := p2.HTTP(&r); d2 != d {
							t.Fatalf("after a round trip %+v, before %+v", d2, d)
						}
						if d.Allow && !p.MayConnect(r.Source, r.SourceIP, port) {
							t.Fatalf("%+v allowed, but MayConnect refuses its connection", d)
						}
					}
					if d, d2 := p.TCP(r.Source, r.SourceIP, port), p2.TCP(r.Source, r.SourceIP, port); d != d2 {
						t.Fatalf("TCP after a round trip %+v, before %+v", d2, d)
					}
				}
			}
		}
	})
}

// FuzzRegexWholeMatch holds CompileRegex to its promise against an
// independent oracle: a leftmost-longest search that must span the whole
// value. Whatever the expression (flags, alternations, anchors, \Q), the
// anchored form matches exactly when the oracle finds a whole match.
func FuzzRegexWholeMatch(f *testing.F) {
	for _, s := range [][2]string{{`/books`, "/books/1"}, {`/a|/b`, "/a/b"}, {`(?m)^/a$`, "/a\n/b"}, {`^/api/buy$`, "/api/buy"}, {`\Q)|(\E`, ")|("}, {`(?U)a+`, "aaa"}, {`a*?`, "aa"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, src, s string) {
		oracle, err := regexp.Compile(src)
		r, err2 := CompileRegex(src)
		if err != nil || len(src) > MaxRegexLen {
			if err2 == nil {
				t.Fatalf("CompileRegex(%q) accepted what regexp refuses: %v", src, err)
			}
			return
		}
		if err2 != nil {
			t.Fatalf("CompileRegex(%q): %v; regexp accepts it", src, err2)
		}
		oracle.Longest()
		loc := oracle.FindStringIndex(s)
		whole := loc != nil && loc[0] == 0 && loc[1] == len(s)
		if got := r.Match(s); got != whole {
			t.Fatalf("CompileRegex(%q).Match(%q) = %t; a whole match exists: %t (leftmost-longest %v)", src, s, got, whole, loc)
		}
	})
}
