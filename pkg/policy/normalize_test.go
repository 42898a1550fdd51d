package policy

import (
	"testing"
)

func TestNormalizePath(t *testing.T) {
	for _, c := range []struct {
		target, want string
		bad          bool
	}{
		{target: "/", want: "/"},
		{target: "/api/buy", want: "/api/buy"},
		{target: "/api/buy?x=1", want: "/api/buy"},
		{target: "/api/buy?x=/../admin", want: "/api/buy"},
		{target: "/api/buy#frag", bad: true},
		{target: "/api/buy#/../../admin", bad: true},
		{target: "/books/", want: "/books/"},
		{target: "//admin", want: "/admin"},
		{target: "///admin//x//", want: "/admin/x/"},
		{target: "/a/../admin", want: "/admin"},
		{target: "/a/./admin", want: "/a/admin"},
		{target: "/a/b/../../admin", want: "/admin"},
		{target: "/../../admin", want: "/admin"},
		{target: "/a/..", want: "/"},
		{target: "/a/.", want: "/a/"},
		{target: "/a/...", want: "/a/..."},
		{target: "/a/.b/..c", want: "/a/.b/..c"},
		{target: "/%61dmin", want: "/admin"},
		{target: "/%2e%2e/admin", want: "/admin"},
		{target: "/a/%2E%2E/admin", want: "/admin"},
		{target: "/a/%2e/admin", want: "/a/admin"},
		{target: "/%2Fadmin", bad: true},
		{target: "/a%2fb", bad: true},
		{target: "/public%2F..%2Fadmin", bad: true},
		{target: "/public%5C..%5Cadmin", bad: true},
		{target: "/secret/..%5cbooks", bad: true},
		{target: `/public\..\admin`, bad: true},
		{target: `/a\b`, bad: true},
		{target: "/a%20b", want: "/a b"},
		{target: "/%25", want: "/%"},
		{target: "/%252e%252e/admin", want: "/%2e%2e/admin"},
		{target: "/caf%C3%A9", want: "/café"},
		{target: "/Admin", want: "/Admin"},
		{target: "/a;b/c", want: "/a;b/c"},
		{target: "/a/..;/admin", bad: true},
		{target: "/a/.;x/admin", bad: true},
		{target: "/a/%2e%2e;/admin", bad: true},
		{target: "", bad: true},
		{target: "?x", bad: true},
		{target: "admin", bad: true},
		{target: "*", bad: true},
		{target: "http://evil/admin", bad: true},
		{target: "/%", bad: true},
		{target: "/%2", bad: true},
		{target: "/%zz", bad: true},
		{target: "/%00admin", bad: true},
		{target: "/a%0a", bad: true},
		{target: "/a%7f", bad: true},
		{target: "/a\x00", bad: true},
		{target: "/a\tb", bad: true},
		{target: "/%c0%ae%c0%ae/admin", bad: true},
		{target: "/caf\xe9", bad: true},
		{target: "/%ff", bad: true},
		{target: "/caf\xc3\xa9", want: "/café"},
	} {
		got, reason := NormalizePath(c.target)
		if c.bad {
			if reason != ReasonInvalidPath || got != "" {
				t.Errorf("NormalizePath(%q) = %q, %q; want refused as %s", c.target, got, reason, ReasonInvalidPath)
			}
			continue
		}
		if got != c.want || reason != "" {
			t.Errorf("NormalizePath(%q) = %q, %q; want %q", c.target, got, reason, c.want)
		}
		// Normalizing is idempotent: the normal form, escaped as a
		// request-target, is normal.
		if again, r := NormalizePath(escapePath(got)); again != got || r != "" {
			t.Errorf("NormalizePath(%q) = %q, %q; the normal form changed", escapePath(got), again, r)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"bookstore":                   "bookstore",
		"BookStore.Bookstore":         "bookstore.bookstore",
		"bookstore:14001":             "bookstore",
		"BOOKSTORE.bookstore.svc.:80": "bookstore.bookstore.svc",
		"[::1]:8080":                  "[::1]",
		"[FE80::1]":                   "[fe80::1]",
		"198.18.0.1:80":               "198.18.0.1",
		"":                            "",
		"a:b:c":                       "a:b:c",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNormalizeAllocatesNothingWhenNormal holds the hot path's promise:
// a path and host already in normal form cost no allocation.
func TestNormalizeAllocatesNothingWhenNormal(t *testing.T) {
	for _, target := range []string{"/", "/api/buy", "/api/buy?x=1&y=/../z", "/books/", "/a/...b/c;d", "/api#x"} {
		if n := testing.AllocsPerRun(100, func() { NormalizePath(target) }); n != 0 {
			t.Errorf("NormalizePath(%q): %v allocations, want 0", target, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { NormalizeHost("bookstore.bookstore:14001") }); n != 0 {
		t.Errorf("NormalizeHost: %v allocations, want 0", n)
	}
}

// escapePath writes a normalized path back as a request-target: the bytes
// a target cannot hold as they are, or that mean something there, are
// percent-encoded.
func escapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c <= ' ' || c >= 0x7f || c == '%' || c == '?' || c == '#':
			b = append(b, '%', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return string(b)
}
