package cli

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"dial tcp 10.0.0.1:9444: connection refused": "dial tcp 10.0.0.1:9444: connection refused",
		"naïve café — 東京":                            "naïve café — 東京",
		"\x1b[2J\x1b[Hgone":                          `\x1b[2J\x1b[Hgone`,
		"a\nb\rc\td":                                 `a\nb\rc\td`,
		"\x1b]0;title\x07":                           `\x1b]0;title\a`,
		"abc\u202edcba":                              `abc\u202edcba`,
		"bad \xff\xfe utf8":                          `bad \xff\xfe utf8`,
		"\u0085\u009b31m":                            `\u0085\u009b31m`,
		"":                                           "",
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintableLines(t *testing.T) {
	for in, want := range map[string]string{
		"namespace \"a\":\n\tno such namespace": "namespace \"a\":\n\tno such namespace",
		"a\r\x1b[2Kforged line":                 `a\r\x1b[2Kforged line`,
		"\u202eevil\n":                          "\\u202eevil\n",
	} {
		if got := PrintableLines(in); got != want {
			t.Errorf("PrintableLines(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPrintable: whatever a proxy sends, the result is valid UTF-8 with
// no control or format character, and clean text is left alone.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"ok", "\x1b[31mred", "a\nb", "\xff", "\u202e", "東京"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if lines := PrintableLines(s); strings.IndexFunc(lines, func(r rune) bool { return r != ' ' && r != '\n' && r != '\t' && !unicode.IsPrint(r) }) >= 0 || !utf8.ValidString(lines) {
			t.Fatalf("PrintableLines(%q) = %q keeps a control character", s, lines)
		}
		got := Printable(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Printable(%q) = %q, not UTF-8", s, got)
		}
		if i := strings.IndexFunc(got, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }); i >= 0 {
			t.Fatalf("Printable(%q) = %q keeps %q", s, got, got[i:])
		}
		clean := utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }) < 0
		if clean && got != s {
			t.Fatalf("Printable(%q) = %q changed clean text", s, got)
		}
	})
}
