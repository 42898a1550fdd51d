package h1

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
)

// peekHead returns the head at the start of br (up to and including the
// empty line), reading more as needed but consuming nothing. A head larger
// than br's buffer is ErrHandoff.
func peekHead(br *bufio.Reader) ([]byte, error) {
	for n := 1; ; {
		b, err := br.Peek(n)
		if end := headEnd(b); end > 0 {
			return b[:end], nil
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return nil, ErrHandoff
			}
			return nil, err
		}
		if br.Buffered() > len(b) {
			n = br.Buffered()
		} else {
			n = len(b) + 1
		}
		if n > br.Size() {
			return nil, ErrHandoff
		}
	}
}

// headEnd is the length of the head in b (through the blank line), or 0
// when b does not hold a whole head. Bare LF line ends count, so that such
// a head is found and handed off rather than waited on.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
}

// lines splits a head into its lines; ok is false if any line ends in a
// bare LF or a field is folded over several lines (obsolete, and a
// smuggling vector): net/http knows what to do with those.
func lines(head string, each func(line string) bool) bool {
	for head != "" {
		line, rest, found := strings.Cut(head, "\r\n")
		if !found || strings.IndexByte(line, '\n') >= 0 {
			return false
		}
		if line == "" {
			return rest == ""
		}
		if line[0] == ' ' || line[0] == '\t' {
			return false
		}
		if !each(line) {
			return false
		}
		head = rest
	}
	return false
}
