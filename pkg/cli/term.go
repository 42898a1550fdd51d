package cli

import (
	"io"

	"golang.org/x/term"
)

// IsTerminal reports whether w is an interactive terminal.
func IsTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Decorated reports whether colour, symbols and spinners may be written to w:
// only on a terminal, and never when NO_COLOR or --no-color is set.
func (s *Settings) Decorated(w io.Writer) bool {
	return !s.NoColor && IsTerminal(w)
}
