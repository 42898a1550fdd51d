// Package h1 owns the proxy's lean HTTP/1.1 path: request and response
// heads parsed in place from the connection's read buffer, the changes the
// proxy makes to them, and bodies relayed by their framing. It serves the
// common exchange (a keep-alive request with no body or a small body of
// known length) without net/http's per-request goroutines, objects and
// header maps; whatever it does not handle is refused with ErrHandoff
// before anything is consumed, so that net/http can serve it instead.
package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// MaxBody is the largest request body the lean path takes. The body is
// written upstream before the response is read; a larger one could be
// answered while still being sent (full duplex), which net/http handles.
const MaxBody = 64 << 10

// ErrHandoff says the request needs the general path. Nothing of it has
// been consumed or answered.
var ErrHandoff = errors.New("h1: request needs the general HTTP path")

type field struct{ name, value string }

// Header is the fields of a head in the order they came, with the changes
// the proxy makes. Names keep the case they were sent in and are matched
// case-insensitively, as HTTP/1.1 requires.
type Header struct {
	fields []field
}

// Get returns the value of the first field named key.
func (h *Header) Get(key string) string {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			return h.fields[i].value
		}
	}
	return ""
}

// Has says whether a field named key is present, even empty.
func (h *Header) Has(key string) bool {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			return true
		}
	}
	return false
}

// Count is how many fields are named key.
func (h *Header) Count(key string) int {
	n := 0
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			n++
		}
	}
	return n
}

// Set replaces the fields named key with one of value.
func (h *Header) Set(key, value string) {
	h.Del(key)
	h.fields = append(h.fields, field{key, value})
}

// Del removes the fields named key.
func (h *Header) Del(key string) {
	for i := range h.fields {
		if strings.EqualFold(h.fields[i].name, key) {
			h.fields[i].name = ""
		}
	}
}

// Len is the number of fields.
func (h *Header) Len() int {
	n := 0
	for _, f := range h.fields {
		if f.name != "" {
			n++
		}
	}
	return n
}

// write writes the fields and the blank line that ends the head.
func (h *Header) write(w *bufio.Writer) {
	for _, f := range h.fields {
		if f.name == "" {
			continue
		}
		w.WriteString(f.name)
		w.WriteString(": ")
		w.WriteString(f.value)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

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

// parseField splits "Name: value"; the name must be a token and the value
// free of control characters.
func parseField(line string) (field, bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return field{}, false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return field{}, false
		}
	}
	value = strings.Trim(value, " \t")
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return field{}, false
		}
	}
	return field{name, value}, true
}

// connectionTokens calls each for the non-empty tokens of a Connection
// field's value.
func connectionTokens(v string, each func(token string)) {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if t = strings.Trim(t, " \t"); t != "" {
			each(t)
		}
	}
}

// parseLength parses a Content-Length value: decimal digits only, as
// net/http requires. strconv would also take a sign ("+3", "-0"), which a
// server or client behind the proxy may read differently.
func parseLength(v string) (int64, bool) {
	// 18 digits cannot overflow an int64.
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
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

// Relay copies n bytes (all until EOF when n < 0) from src to dst. It
// flushes dst whenever it is about to wait for src, so a slow or streamed
// body reaches the client as it comes, and a fast one in few writes.
func Relay(dst *bufio.Writer, src *bufio.Reader, n int64) (int64, error) {
	var done int64
	for n < 0 || done < n {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return done, err
			}
			if _, err := src.Peek(1); err != nil {
				if n < 0 && err == io.EOF {
					return done, nil
				}
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return done, err
			}
		}
		k := src.Buffered()
		if n >= 0 {
			k = int(min(int64(k), n-done))
		}
		b, _ := src.Peek(k)
		if _, err := dst.Write(b); err != nil {
			return done, err
		}
		src.Discard(k)
		done += int64(k)
	}
	return done, nil
}

// RelayChunked copies a chunked body from src to dst as it is, chunk
// sizes, extensions and trailer included, and returns the bytes of data.
func RelayChunked(dst *bufio.Writer, src *bufio.Reader) (int64, error) {
	var data int64
	for {
		if src.Buffered() == 0 {
			if err := dst.Flush(); err != nil {
				return data, err
			}
		}
		line, err := src.ReadSlice('\n')
		if err != nil {
			return data, noEOF(err)
		}
		n, ok := chunkSize(line)
		if !ok {
			return data, errors.New("malformed chunk size")
		}
		dst.Write(line)
		if n == 0 {
			// The trailer: fields until an empty line.
			for {
				line, err := src.ReadSlice('\n')
				if err != nil {
					return data, noEOF(err)
				}
				if !crlfLine(line) {
					return data, errors.New("malformed trailer")
				}
				dst.Write(line)
				if len(line) == 2 {
					return data, dst.Flush()
				}
				if _, ok := parseField(string(line[:len(line)-2])); !ok || line[0] == ' ' || line[0] == '\t' {
					return data, errors.New("malformed trailer")
				}
			}
		}
		k, err := Relay(dst, src, n)
		data += k
		if err != nil {
			return data, err
		}
		crlf, err := src.Peek(2)
		if err != nil || string(crlf) != "\r\n" {
			return data, errors.New("malformed chunk end")
		}
		dst.Write(crlf)
		src.Discard(2)
	}
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

// crlfLine says line ends in CRLF, holds no other CR or control
// character (HTAB aside): a chunk line or trailer field a client could
// split differently is refused rather than relayed.
func crlfLine(line []byte) bool {
	n := len(line)
	if n < 2 || line[n-2] != '\r' || line[n-1] != '\n' {
		return false
	}
	for _, c := range line[:n-2] {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// chunkSize parses a chunk-size line (CRLF included) the way net/http's
// chunked reader does: hex digits, then optional whitespace or a ;
// extension. Signs, leading spaces and bare LF line ends are refused.
func chunkSize(line []byte) (int64, bool) {
	if !crlfLine(line) {
		return 0, false
	}
	p := line[:len(line)-2]
	for len(p) > 0 && (p[len(p)-1] == ' ' || p[len(p)-1] == '\t') {
		p = p[:len(p)-1]
	}
	if i := bytes.IndexByte(p, ';'); i >= 0 {
		p = p[:i]
	}
	// 15 hex digits cannot overflow an int64.
	if len(p) == 0 || len(p) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range p {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Inflight holds the upstream connection of a downstream connection's
// exchange in flight, so that the server can abort it: Shutdown must not
// wait without end for an app that never answers. Methods of a nil
// *Inflight do nothing.
type Inflight struct {
	mu      sync.Mutex
	c       io.Closer
	aborted bool
}

// Set registers c as the exchange's upstream connection. It returns false
// after Abort: the caller closes c and gives up.
func (u *Inflight) Set(c io.Closer) bool {
	if u == nil {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.aborted {
		return false
	}
	u.c = c
	return true
}

// Clear ends the exchange's use of its upstream connection. It returns
// false if Abort closed it meanwhile.
func (u *Inflight) Clear() bool {
	if u == nil {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.c = nil
	return !u.aborted
}

// Abort closes the registered upstream connection, and any set later, so
// that the exchange fails at once.
func (u *Inflight) Abort() {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.aborted = true
	if u.c != nil {
		u.c.Close()
		u.c = nil
	}
}

// Exchange is one request of a downstream connection on the lean path and
// what became of it. The connection's loop fills in the request side; the
// handlers fill in the rest.
type Exchange struct {
	Request
	// Dst is where the downstream connection was going.
	Dst netip.AddrPort
	// In reads the downstream connection: the head, then, once
	// committed, the body.
	In *bufio.Reader
	// Out writes the response downstream.
	Out *bufio.Writer
	// Inflight, when not nil, is where the handler registers its
	// upstream connection while it uses it.
	Inflight *Inflight

	// Trace is the trace context the request goes upstream with, when
	// Traced.
	Trace  propagation.TraceContext
	Traced bool

	// Status, BytesSent (of the response body) and Upstream (from sending
	// the request to the response head) are what happened.
	Status    int
	BytesSent int64
	Upstream  time.Duration
	// Started says the response head has been written downstream; after
	// a failure, the connection can then only be closed.
	Started bool

	committed bool
}

// Commit consumes the head: from then on the request cannot be handed
// off.
func (x *Exchange) Commit() {
	if !x.committed {
		x.committed = true
		x.Request.Commit(x.In)
	}
}

// WriteBadGateway answers an exchange whose upstream failed before
// anything was sent downstream.
func (x *Exchange) WriteBadGateway() error {
	x.Status, x.Started = 502, true
	x.Out.WriteString("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n")
	if x.Close {
		x.Out.WriteString("Connection: close\r\n")
	}
	x.Out.WriteString("\r\n")
	return x.Out.Flush()
}

// Handler serves exchanges of the lean path. ServeH1 returns ErrHandoff,
// without committing, for a request the general path must serve.
type Handler interface {
	ServeH1(x *Exchange) error
}
