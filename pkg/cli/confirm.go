package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Confirm asks question on errOut, with " [y/N] ", and reads one line of
// in: "y" or "yes" (any case) confirms and returns nil; anything else,
// an empty line and end of input included, returns cancelled. Callers ask
// only on a terminal and take --yes, never an environment variable or a
// config-file key, as the answer otherwise.
func Confirm(in io.Reader, errOut io.Writer, question string, cancelled error) error {
	fmt.Fprint(errOut, question+" [y/N] ")
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return cancelled
}
