package policy

import (
	"strings"
	"unicode/utf8"
)

// NormalizePath returns the path that a request-target stands for, the one
// the evaluator matches pathRegex against, or ReasonInvalidPath.
//
// The rules, in order (see docs/authorization.md#path-normalization):
//
//  1. The query (from the first '?') is dropped: path rules are about the
//     path only. A '#' is refused: a client never sends a fragment, and
//     servers disagree on it (Go keeps it in URL.Path, so a FileServer
//     would clean /a#/../b to /b while the rule saw /a).
//  2. The path must start with '/' (origin form). Absolute form
//     (http://host/path), authority form and "*" are refused.
//  3. Every %XX is decoded once, as the app's HTTP library does (Go's
//     URL.Path, Express, Spring), so %61dmin and admin are one path. A '%'
//     not followed by two hex digits is refused.
//  4. Slashes that are not literal '/' are refused: %2F, and '\' and %5C,
//     which some servers (Windows, some routers) read as '/' and others
//     as a name. Decoding them would let "..%2F" or "..\" remove, for the
//     decision, a segment the app still routes on (/secret/..%5Cbooks is
//     /books to such a rule and /secret/ to Go's ServeMux); keeping them
//     would let them add one the other way. Istio's safest setting does
//     the same. An API that carries encoded slashes in IDs needs permissive
//     mode or a TCPRoute.
//  5. A decoded control character (0x00-0x1F, 0x7F) is refused: apps
//     written in C truncate at NUL and log parsers split at newlines. So
//     is a path that is not UTF-8 once decoded: overlong forms such as
//     %C0%AE are a '.' to some decoders and not to others.
//  6. Empty segments are merged (//a is /a), "." segments are removed and
//     ".." removes the segment before it (RFC 3986, section 5.2.4), never
//     going above the root. A trailing slash is kept: /books/ and /books
//     are two paths, and a regex names the one it allows.
//  7. A segment that is "." or ".." followed by ';' (Tomcat's path
//     parameters, as in /public/..;/admin) is refused: Java servers treat
//     it as a dot segment and Go servers as a name, so no single reading
//     is the app's.
//
// Letter case is kept: paths are case-sensitive.
//
// An already-normal target (the common case) is returned as a substring of
// target, without allocating.
func NormalizePath(target string) (string, Reason) {
	p := target
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if strings.IndexByte(p, '#') >= 0 {
		return "", ReasonInvalidPath
	}
	if p == "" || p[0] != '/' {
		return "", ReasonInvalidPath
	}
	switch pathState(p) {
	case pathNormal:
		return p, ""
	case pathInvalid:
		return "", ReasonInvalidPath
	}
	decoded, ok := decodePath(p)
	if !ok || !utf8.Valid(decoded) {
		return "", ReasonInvalidPath
	}
	return resolveDots(decoded)
}

type pathKind int

const (
	pathNormal pathKind = iota
	pathNeedsWork
	pathInvalid
)

// pathState tells apart the paths that are already normal, which it
// proves in one pass without allocating, from those that need decoding
// or resolving, and those that are invalid whatever is done.
func pathState(p string) pathKind {
	state := pathNormal
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			switch {
			case c < 0x20 || c == 0x7f || c == '\\':
				return pathInvalid
			case c == '%' || c >= 0x80:
				state = pathNeedsWork
			}
			if c != '/' {
				continue
			}
		}
		seg := p[segStart:i]
		switch {
		case seg == "" && i < len(p):
			// An empty segment before the end: "//".
			state = pathNeedsWork
		case isDotSegment(seg):
			state = pathNeedsWork
		}
		segStart = i + 1
	}
	return state
}

// isDotSegment is true of ".", "..", and of either followed by ';' and
// path parameters.
func isDotSegment(seg string) bool {
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		seg = seg[:i]
	}
	return seg == "." || seg == ".."
}

// decodePath decodes every %XX of p. It refuses malformed escapes,
// control characters, '\' however written, and an encoded '/'.
func decodePath(p string) ([]byte, bool) {
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return nil, false
			}
			c = unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
			if c == '/' {
				return nil, false
			}
		}
		if c < 0x20 || c == 0x7f || c == '\\' {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

// resolveDots merges empty segments and resolves dot segments of the
// decoded path p, which starts with '/'.
func resolveDots(p []byte) (string, Reason) {
	out := make([]byte, 1, len(p))
	out[0] = '/'
	segs := p[1:]
	for {
		i := indexSlash(segs)
		last := i < 0
		seg := segs
		if !last {
			seg = segs[:i]
		}
		switch {
		case len(seg) == 0 || string(seg) == ".":
			// Merged or removed; the '/' already in out stands for it.
		case string(seg) == "..":
			if len(out) > 1 {
				j := lastSlash(out[:len(out)-1])
				out = out[:j+1]
			}
		case isDotSegment(string(seg)):
			return "", ReasonInvalidPath
		default:
			out = append(out, seg...)
			if !last {
				out = append(out, '/')
			}
		}
		if last {
			break
		}
		segs = segs[i+1:]
	}
	return string(out), ""
}

func indexSlash(b []byte) int {
	for i, c := range b {
		if c == '/' {
			return i
		}
	}
	return -1
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// NormalizeHost returns the host a Host header (or :authority) names, as
// header rules on "host" match it: without the port, without a trailing
// dot, in lower case (DNS names are case-insensitive, so BOOKSTORE and
// bookstore are one host). An IPv6 literal keeps its brackets. A host
// already in that form is returned without allocating.
func NormalizeHost(host string) string {
	h := host
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i >= 0 {
			h = h[:i+1]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i && allDigits(h[i+1:]) {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
