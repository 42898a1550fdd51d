package cli

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable is text from elsewhere (a proxy's error, identity or hash, an
// API server's message) made safe for a terminal on one line: control and
// format characters, such as the escape sequences that move the cursor,
// clear the screen or retitle the window, or the marks that reverse the
// text's direction, and invalid UTF-8 are written as Go escapes (\x1b,
// \u202e), so a pod whose proxy is not trustworthy can neither write to
// the operator's terminal nor forge table rows. Other text is left as it is.
func Printable(s string) string { return printable(s, false) }

// PrintableLines is Printable for a message of several lines, such as an
// error that lists problems: newlines and tabs are kept, every other
// control character escaped.
func PrintableLines(s string) string { return printable(s, true) }

func printable(s string, lines bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ' || unicode.IsPrint(r), lines && (r == '\n' || r == '\t'):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}
