package policy

import (
	"fmt"
	"regexp"
	"regexp/syntax"
)

// MaxRegexLen bounds a regular expression, as the HTTPRouteGroup CRD does
// for pathRegex.
const MaxRegexLen = 1024

// MaxRegexInst bounds a regular expression's compiled program: a short
// source can expand enormously ((?:\pL{100}|\pN{100}){10} is tens of
// thousands of instructions), and every proxy compiles what one
// namespace's author wrote. Real path and header patterns take tens to a
// few hundred.
const MaxRegexInst = 2000

// Regex is a regular expression that matches a whole value, never a part
// of it: "/books" matches "/books" and not "/books/1" nor "/x/books".
// Anchors the author already wrote (^/books$) change nothing. It keeps
// the source as written, which is how it encodes to JSON and how explain
// shows it.
type Regex struct {
	src string
	re  *regexp.Regexp
}

// CompileRegex compiles src (Go's RE2 syntax) to match whole values.
//
// src is first compiled alone, which proves it balanced: its parentheses,
// brackets and \Q...\E quotes close within it, so wrapping it in
// \A(?:...)\z cannot turn the wrapper's own closing characters into part
// of src (an unterminated \Q in src makes the wrapped form fail to
// compile, and so refuses src). \A and \z, unlike ^ and $, mean the ends
// of the text whatever flags src sets, (?m) included.
func CompileRegex(src string) (Regex, error) {
	if len(src) > MaxRegexLen {
		return Regex{}, fmt.Errorf("regular expression of %d bytes: the most is %d", len(src), MaxRegexLen)
	}
	if _, err := regexp.Compile(src); err != nil {
		return Regex{}, fmt.Errorf("regular expression %q: %w", src, err)
	}
	// Measured before regexp builds its matchers, which is where the
	// memory goes.
	parsed, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return Regex{}, fmt.Errorf("regular expression %q: %w", src, err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return Regex{}, fmt.Errorf("regular expression %q: %w", src, err)
	}
	if n := len(prog.Inst); n > MaxRegexInst {
		return Regex{}, fmt.Errorf("regular expression %.60q compiles to %d instructions: the most is %d; write it shorter (repetition counts multiply)", src, n, MaxRegexInst)
	}
	re, err := regexp.Compile(`\A(?:` + src + `)\z`)
	if err != nil {
		return Regex{}, fmt.Errorf("regular expression %q cannot be anchored: %w", src, err)
	}
	return Regex{src: src, re: re}, nil
}

// MustCompileRegex is CompileRegex for tests and constants; it panics on
// an invalid src.
func MustCompileRegex(src string) Regex {
	r, err := CompileRegex(src)
	if err != nil {
		panic(err)
	}
	return r
}

// Match says whether r matches the whole of s. The zero Regex matches
// nothing.
func (r *Regex) Match(s string) bool {
	return r.re != nil && r.re.MatchString(s)
}

// String is the source as written.
func (r Regex) String() string { return r.src }

// MarshalText writes the source as written.
func (r Regex) MarshalText() ([]byte, error) { return []byte(r.src), nil }

// UnmarshalText keeps the source only: NewSet compiles it, so that a bad
// one is reported with the name of the policy that holds it. Until then
// the Regex matches nothing.
func (r *Regex) UnmarshalText(b []byte) error {
	*r = Regex{src: string(b)}
	return nil
}

// compile compiles r's source in place, if it is not compiled yet.
func (r *Regex) compile() error {
	if r.re != nil {
		return nil
	}
	c, err := CompileRegex(r.src)
	if err != nil {
		return err
	}
	*r = c
	return nil
}
