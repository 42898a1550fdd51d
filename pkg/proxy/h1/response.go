package h1

import (
	"bufio"
	"errors"
	"strconv"
	"strings"
)

// Response is a response head read from upstream.
type Response struct {
	// Status is the three-digit status code.
	Status int
	// Reason is the status line's text after the code.
	Reason string
	// Header is the fields that go downstream: hop-by-hop ones are left
	// out.
	Header Header
	// Length is the body's length: -1 for chunked, -2 for until the
	// connection closes.
	Length int64
	// Close says the upstream connection cannot carry another request.
	Close bool
}

// Body lengths of Response besides a byte count.
const (
	Chunked     = -1
	UntilClosed = -2
)

// ErrHeadTooLarge is a response head that does not fit the reader's
// buffer; nothing of it has been consumed.
var ErrHeadTooLarge = errors.New("response head larger than the read buffer")

// ReadResponse reads a response head from br (consuming it) for a request
// of method.
func ReadResponse(br *bufio.Reader, method string, r *Response) error {
	b, err := peekHead(br)
	if errors.Is(err, ErrHandoff) {
		return ErrHeadTooLarge
	} else if err != nil {
		return err
	}
	head := string(b)
	br.Discard(len(b))
	*r = Response{Header: Header{fields: r.Header.fields[:0]}, Length: UntilClosed}
	first, http10 := true, false
	var lengthErr error
	var named []string
	lengths := 0
	ok := lines(head, func(line string) bool {
		if first {
			first = false
			proto, rest, _ := strings.Cut(line, " ")
			code, reason, _ := strings.Cut(rest, " ")
			if proto != "HTTP/1.1" && proto != "HTTP/1.0" {
				return false
			}
			http10 = proto == "HTTP/1.0"
			n, err := strconv.Atoi(code)
			if err != nil || len(code) != 3 || n < 100 {
				return false
			}
			if !validReason(reason) {
				return false
			}
			r.Status, r.Reason = n, reason
			return true
		}
		f, ok := parseField(line)
		if !ok {
			return false
		}
		switch {
		case strings.EqualFold(f.name, "Content-Length"):
			n, ok := parseLength(f.value)
			if !ok || (lengths > 0 && n != r.Length) {
				lengthErr = errors.New("bad or conflicting Content-Length")
			}
			lengths++
			if r.Length != Chunked {
				r.Length = n
			}
		case strings.EqualFold(f.name, "Transfer-Encoding"):
			if !strings.EqualFold(f.value, "chunked") {
				lengthErr = errors.New("unsupported Transfer-Encoding " + strconv.Quote(f.value))
			}
			r.Length = Chunked
		case strings.EqualFold(f.name, "Connection"):
			connectionTokens(f.value, func(t string) {
				switch {
				case strings.EqualFold(t, "close"):
					r.Close = true
				case strings.EqualFold(t, "keep-alive"):
					http10 = false
				default:
					// Fields named here are hop by hop too; removed below,
					// as they may come before or after.
					named = append(named, t)
				}
			})
			return true
		case strings.EqualFold(f.name, "Keep-Alive"), strings.EqualFold(f.name, "Proxy-Connection"),
			strings.EqualFold(f.name, "Upgrade"), strings.EqualFold(f.name, "TE"),
			strings.EqualFold(f.name, "Proxy-Authenticate"):
			// Hop by hop (the set httputil.ReverseProxy removes). Upgrade
			// with a 101 never gets here: the lean path sends no upgrades.
			return true
		}
		r.Header.fields = append(r.Header.fields, f)
		return true
	})
	if !ok || first {
		return errors.New("malformed response head")
	}
	if lengthErr != nil {
		return lengthErr
	}
	if http10 {
		r.Close = true
	}
	if r.Length == Chunked && lengths > 0 {
		// Both framings: chunked wins (RFC 9112 §6.3), and the length
		// must not reach a client that might believe it instead.
		r.Header.Del("Content-Length")
	}
	if method == "HEAD" || r.Status == 204 || r.Status == 304 || r.Status < 200 {
		r.Length = 0
	}
	if r.Length == UntilClosed {
		r.Close = true
	}
	for _, name := range named {
		// The framing is relayed as it is and must stay announced.
		if !strings.EqualFold(name, "Content-Length") && !strings.EqualFold(name, "Transfer-Encoding") {
			r.Header.Del(name)
		}
	}
	if r.Length != Chunked {
		// Trailer announces trailer fields, which only a chunked body
		// relayed as it is carries (httputil.ReverseProxy likewise
		// announces only the trailers it forwards).
		r.Header.Del("Trailer")
	}
	return nil
}

// WriteHead writes the response head for the downstream connection; close
// adds Connection: close.
func (r *Response) WriteHead(w *bufio.Writer, close bool) {
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(r.Status))
	w.WriteByte(' ')
	w.WriteString(r.Reason)
	w.WriteString("\r\n")
	if close {
		w.WriteString("Connection: close\r\n")
	}
	r.Header.write(w)
}

// validReason accepts a status line's reason phrase: text without
// control characters (HTAB aside). A CR in it would reach the client as a
// line end of the proxy's making.
func validReason(r string) bool {
	for i := 0; i < len(r); i++ {
		if c := r[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
