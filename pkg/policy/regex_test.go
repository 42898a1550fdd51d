package policy

import (
	"strings"
	"testing"
)

// TestRegexMatchesWholeValues: however the author anchored (or did not
// anchor) the expression, it matches whole values only.
func TestRegexMatchesWholeValues(t *testing.T) {
	for _, c := range []struct {
		src string
		yes []string
		no  []string
	}{
		{src: `/books`, yes: []string{"/books"}, no: []string{"/books/1", "/x/books", "/bookss", ""}},
		{src: `^/books$`, yes: []string{"/books"}, no: []string{"/books/1", "/x/books"}},
		{src: `^/books`, yes: []string{"/books"}, no: []string{"/books/1"}},
		{src: `/books$`, yes: []string{"/books"}, no: []string{"/x/books"}},
		{src: `/a|/b`, yes: []string{"/a", "/b"}, no: []string{"/a/b", "/b/a", "/ab"}},
		{src: `(?m)^/a$`, yes: []string{"/a"}, no: []string{"/a\n/b", "/b\n/a"}},
		{src: `(?s).*`, yes: []string{"", "/anything", "/a\nb"}},
		{src: `\Q/a)|(.*\E`, yes: []string{"/a)|(.*"}, no: []string{"/b", "/a"}},
		{src: `/admin(/.*)?`, yes: []string{"/admin", "/admin/", "/admin/x"}, no: []string{"/administrator", "/x/admin"}},
	} {
		r, err := CompileRegex(c.src)
		if err != nil {
			t.Errorf("CompileRegex(%q): %v", c.src, err)
			continue
		}
		for _, s := range c.yes {
			if !r.Match(s) {
				t.Errorf("%q does not match %q", c.src, s)
			}
		}
		for _, s := range c.no {
			if r.Match(s) {
				t.Errorf("%q matches %q", c.src, s)
			}
		}
	}
}

// TestRegexRefusesWhatWouldEscapeTheAnchors: an expression that is not
// balanced on its own would splice into the wrapper; it is refused.
func TestRegexRefusesWhatWouldEscapeTheAnchors(t *testing.T) {
	for _, src := range []string{`/a)|(.*`, `.*)|(/a`, `/a\Q`, `/a\Q)`, `[`, `a\`, `(`, string(make([]byte, MaxRegexLen+1))} {
		if r, err := CompileRegex(src); err == nil {
			t.Errorf("CompileRegex(%.40q) = %v, want an error", src, r)
		}
	}
	var zero Regex
	if zero.Match("") || zero.Match("/") {
		t.Error("the zero Regex matches")
	}
	var decoded Regex
	if err := decoded.UnmarshalText([]byte(".*")); err != nil || decoded.Match("/") {
		t.Errorf("a Regex not yet compiled matches (%v)", err)
	}
}

// TestRegexSizeIsBounded: a short pattern that expands to a huge program
// is refused before it is built for matching (review finding: 5,000 such
// regexes cost every proxy gigabytes); real patterns pass.
func TestRegexSizeIsBounded(t *testing.T) {
	for _, src := range []string{`(?:\pL{100}|\pN{100}|\pP{100}){10}`, `(?:\pL{100}\pN{100}\pP{100}){8}`} {
		if _, err := CompileRegex(src); err == nil || !strings.Contains(err.Error(), "instructions") {
			t.Errorf("CompileRegex(%q) = %v, want a refusal for its size", src, err)
		}
	}
	for _, src := range []string{`/api/buy`, `/books/[0-9]+(/reviews)?`, `(?i)application/json(;.*)?`, `/v[12]/[a-z0-9-]{1,63}/.*`} {
		if _, err := CompileRegex(src); err != nil {
			t.Errorf("CompileRegex(%q): %v", src, err)
		}
	}
}
