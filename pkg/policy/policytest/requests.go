// Package policytest generates the requests of the differential tests of
// authorization: the same requests are decided by `meshctl policy
// explain`, by the evaluator called directly, and by a real mesh-proxy,
// and the decisions must agree. It links only the standard library,
// pkg/identity and pkg/policy, so a data-plane test may import it.
package policytest

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy"
)

// Request is one generated HTTP request: who sends it and what it says.
// The fields are what a client controls, so a test can send it for real
// (Source is the identity of the client's certificate) or hand it to the
// evaluator (Policy).
type Request struct {
	// Source is the caller's identity; zero for plain text.
	Source identity.ID
	// Method is sent as is.
	Method string
	// Target is the request-target as sent, odd spelling and all.
	Target string
	// Header are extra fields, canonical names.
	Header map[string][]string
}

// String names the request in a test's failure message.
func (r Request) String() string {
	src := "plain text"
	if !r.Source.IsZero() {
		src = r.Source.String()
	}
	s := fmt.Sprintf("%s %s from %s", r.Method, r.Target, src)
	for k, vs := range r.Header {
		for _, v := range vs {
			s += fmt.Sprintf(" [%s: %s]", k, v)
		}
	}
	return s
}

// Policy is r as the evaluator takes it, to port on the destination pod.
// A Host field is the request's Host, as net/http takes it out of the
// header.
func (r Request) Policy(port uint16) *policy.Request {
	pr := &policy.Request{Source: r.Source, Port: port, Method: r.Method, Target: r.Target, Header: policy.HeaderMap(r.Header)}
	if h := r.Header["Host"]; len(h) > 0 {
		pr.Host = h[0]
	}
	return pr
}

// Methods are the methods the generator sends: the usual ones, a lower-case
// spelling (methods are case-sensitive) and an extension method.
func Methods() []string {
	return []string{"GET", "POST", "HEAD", "DELETE", "get", "PURGE"}
}

// Spellings returns path and the ways a client may spell it, or spell a
// neighbour of it, to dodge a path rule: repeated and trailing slashes,
// dot segments, percent-encoding of letters and of the slash, a query, a
// fragment, letter case, and forms the evaluator refuses (absolute form,
// an encoded NUL, "..;"). path is an absolute path such as /api/buy.
func Spellings(path string) []string {
	dir, base := "/", strings.TrimPrefix(path, "/")
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		dir, base = path[:i+1], path[i+1:]
	}
	out := []string{
		path,
		"/" + path,           // //api/buy
		dir + "/" + base,     // /api//buy
		dir + "./" + base,    // /api/./buy
		dir + "x/../" + base, // /api/x/../buy
		dir + "%2e%2e/" + strings.TrimPrefix(path, "/"), // /api/%2e%2e/api/buy
		path + "/",                           // trailing slash: another path
		path + "?q=1",                        // a query
		path + "#frag",                       // a fragment
		strings.ToUpper(path),                // another path: case counts
		strings.ReplaceAll(path, "/", "%2F"), // encoded slashes
		strings.ReplaceAll(path, "/", "%2f"),
		dir + percentAll(base),    // /api/%62%75%79
		dir + percentFirst(base),  // /api/%62uy
		percentFirst(path[1:]),    // api/buy with its first letter encoded, no leading slash: refused
		dir + base + "%00",        // an encoded NUL: refused
		dir + "..;/" + base,       // Tomcat's path parameter: refused
		"http://bookstore" + path, // absolute form: refused
		dir + base + "/..",        // resolves to dir
		dir + "..%2F" + base,
		"\\" + path[1:], // a backslash for the first slash
		url.PathEscape(path),
	}
	return out
}

// Requests is every combination of sources (the zero ID among them means
// plain text), Methods, and the Spellings of each path, plus, for each
// source and path, a GET with a Host header, one with an X-Role: admin
// header, and one with a second X-Role that must not ride on the first. The order is stable.
func Requests(sources []identity.ID, paths []string) []Request {
	var out []Request
	for _, src := range sources {
		for _, p := range paths {
			for _, m := range Methods() {
				for _, target := range Spellings(p) {
					out = append(out, Request{Source: src, Method: m, Target: target})
				}
			}
			out = append(out,
				Request{Source: src, Method: "GET", Target: p, Header: map[string][]string{"Host": {"BookStore.example:8080"}}},
				Request{Source: src, Method: "GET", Target: p, Header: map[string][]string{"X-Role": {"admin"}}},
				Request{Source: src, Method: "GET", Target: p, Header: map[string][]string{"X-Role": {"admin", "guest"}}},
			)
		}
	}
	return out
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

func percentFirst(s string) string {
	if s == "" {
		return s
	}
	return fmt.Sprintf("%%%02x", s[0]) + s[1:]
}
