package policy

import "testing"

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
