package h1

import (
	"bufio"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Request is the head of a request on the lean path. Its strings share one
// copy of the head, made when it was parsed.
type Request struct {
	// Method is the request method, a token other than CONNECT or PRI.
	Method string
	// Target is the request target in origin form: a path and maybe a
	// query, as sent.
	Target string
	// Host is the Host field's value (also kept in Header).
	Host string
	// Header is the fields that go upstream: hop-by-hop ones are left
	// out.
	Header Header
	// ContentLength is the body's length; 0 when the request has none.
	ContentLength int64
	// Close is set when the client asked to close the connection after
	// this exchange.
	Close bool

	headLen int
}

// Path is Target without its query, which may carry secrets.
func (r *Request) Path() string {
	p, _, _ := strings.Cut(r.Target, "?")
	return p
}

// WriteHead writes the request head for the upstream connection.
func (r *Request) WriteHead(w *bufio.Writer) {
	w.WriteString(r.Method)
	w.WriteByte(' ')
	w.WriteString(r.Target)
	w.WriteString(" HTTP/1.1\r\n")
	r.Header.write(w)
}

// PeekRequest parses the request head at the start of br into r without
// consuming it (Commit does). It returns ErrHandoff for anything the lean
// path leaves to net/http: other versions than HTTP/1.1, CONNECT, targets
// that are not a path, upgrades, Expect, Transfer-Encoding, bodies over
// MaxBody, hop-by-hop fields other than Connection: close/keep-alive, a
// missing or repeated Host, and anything malformed (net/http answers 400).
// Other errors are the connection's (EOF, timeout).
func PeekRequest(br *bufio.Reader, r *Request) error {
	b, err := peekHead(br)
	if err != nil {
		return err
	}
	head := string(b)
	*r = Request{Header: Header{fields: r.Header.fields[:0]}, headLen: len(b)}
	first := true
	hosts, lengths := 0, 0
	ok := lines(head, func(line string) bool {
		if first {
			first = false
			return r.parseRequestLine(line)
		}
		f, ok := parseField(line)
		if !ok {
			return false
		}
		switch {
		case strings.EqualFold(f.name, "Host"):
			hosts++
			r.Host = f.value
		case strings.EqualFold(f.name, "Content-Length"):
			lengths++
			n, ok := parseLength(f.value)
			if !ok || n > MaxBody {
				return false
			}
			r.ContentLength = n
		case strings.EqualFold(f.name, "Connection"):
			named := false
			connectionTokens(f.value, func(t string) {
				switch {
				case strings.EqualFold(t, "close"):
					r.Close = true
				case strings.EqualFold(t, "keep-alive"):
				default:
					named = true
				}
			})
			// Hop by hop: the upstream connection has its own. Fields it
			// names for removal are left to net/http.
			return !named
		case strings.EqualFold(f.name, "Proxy-Authorization"):
			// Hop by hop: credentials for this proxy, which takes none.
			return true
		case strings.EqualFold(f.name, "Transfer-Encoding"), strings.EqualFold(f.name, "Upgrade"),
			strings.EqualFold(f.name, "Expect"), strings.EqualFold(f.name, "TE"),
			strings.EqualFold(f.name, "Trailer"), strings.EqualFold(f.name, "Keep-Alive"),
			strings.EqualFold(f.name, "Proxy-Connection"):
			return false
		}
		r.Header.fields = append(r.Header.fields, f)
		return true
	})
	if !ok || first || hosts != 1 || lengths > 1 || !httpguts.ValidHostHeader(r.Host) {
		return ErrHandoff
	}
	return nil
}

func (r *Request) parseRequestLine(line string) bool {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || method == "" || method == "CONNECT" || method == "PRI" {
		return false
	}
	for i := 0; i < len(method); i++ {
		if !isTokenChar(method[i]) {
			return false
		}
	}
	if target == "" || target[0] != '/' || !validTarget(target) {
		return false
	}
	r.Method, r.Target = method, target
	return true
}

// validTarget accepts what net/http's URL parsing does of an origin-form
// target: visible ASCII, and % only in escapes (in the query too, where
// net/http is more lenient; those requests are handed off).
func validTarget(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		if c == '%' && (i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2])) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Commit consumes the head PeekRequest parsed; the body, if any, follows
// in br.
func (r *Request) Commit(br *bufio.Reader) { br.Discard(r.headLen) }
