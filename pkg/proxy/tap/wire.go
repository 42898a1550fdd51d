package tap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ContentType is the stream's media type: one JSON object per line.
const ContentType = "application/x-ndjson"

// Query parameters of a listener's request, each optional and given at
// most once.
const (
	ParamPathPrefix = "path-prefix"
	ParamMethod     = "method"
	ParamAuthority  = "authority"
	// ParamMaxRPS bounds the requests per second the stream carries;
	// the others are counted (Line.Limited), not sent.
	ParamMaxRPS = "max-rps"
)

// MaxRPS is the largest rate a listener may ask for.
const MaxRPS = 1_000_000

// Request is what a listener asks the tap for.
type Request struct {
	Filter
	// MaxRPS, when not 0, bounds the requests per second sent.
	MaxRPS int
}

// Query is r as the query string of the tap endpoint.
func (r Request) Query() string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set(ParamPathPrefix, r.PathPrefix)
	set(ParamMethod, r.Method)
	set(ParamAuthority, r.Authority)
	if r.MaxRPS != 0 {
		q.Set(ParamMaxRPS, strconv.Itoa(r.MaxRPS))
	}
	return q.Encode()
}

// ParseRequest reads a listener's request from the endpoint's query:
// only the parameters above, each at most once, within the bounds of an
// event, so that a filter can match at all.
func ParseRequest(q url.Values) (Request, error) {
	var r Request
	for k, vs := range q {
		if len(vs) != 1 {
			return Request{}, fmt.Errorf("query parameter %q is given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case ParamPathPrefix:
			if !strings.HasPrefix(v, "/") || len(v) > MaxPath || !visible(v) {
				return Request{}, fmt.Errorf("%s %q: a path prefix starts with / and holds at most %d visible ASCII characters", k, v, MaxPath)
			}
			r.PathPrefix = v
		case ParamMethod:
			if v == "" || len(v) > MaxMethod || !token(v) {
				return Request{}, fmt.Errorf("%s %q: a method is an HTTP token of at most %d characters", k, v, MaxMethod)
			}
			r.Method = v
		case ParamAuthority:
			if v == "" || len(v) > MaxAuthority || !visible(v) {
				return Request{}, fmt.Errorf("%s %q: an authority holds 1 to %d visible ASCII characters", k, v, MaxAuthority)
			}
			r.Authority = v
		case ParamMaxRPS:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > MaxRPS {
				return Request{}, fmt.Errorf("%s %q: a whole number from 0 (no bound) to %d", k, v, MaxRPS)
			}
			r.MaxRPS = n
		default:
			return Request{}, fmt.Errorf("unknown query parameter %q (the tap takes %s, %s, %s and %s)", k, ParamPathPrefix, ParamMethod, ParamAuthority, ParamMaxRPS)
		}
	}
	return r, nil
}

func visible(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func token(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// Kinds of line on the stream.
const (
	// KindRequest is one request (Line.Event).
	KindRequest = "request"
	// KindMissed counts the requests the listener did not get since the
	// last such line: dropped for want of room in its buffer, or over
	// its rate.
	KindMissed = "missed"
	// KindEnd is the last line when the proxy ends the stream itself:
	// it is stopping.
	KindEnd = "end"
)

// Line is one line of the stream.
type Line struct {
	// Kind is one of the kinds above.
	Kind string
	// Event is the request of a KindRequest line.
	Event Event
	// Dropped and Limited are the counts of a KindMissed line.
	Dropped, Limited uint64
	// Reason says why the stream ends, on a KindEnd line.
	Reason string
}

// wireLine is a Line as JSON. One type for every kind, so that the
// decoder reads any line in one pass.
type wireLine struct {
	Kind        string     `json:"kind"`
	Time        *time.Time `json:"time,omitempty"`
	Direction   string     `json:"direction,omitempty"`
	Method      string     `json:"method,omitempty"`
	Authority   string     `json:"authority,omitempty"`
	Path        string     `json:"path,omitempty"`
	Status      *int       `json:"status,omitempty"`
	LatencyMs   *float64   `json:"latencyMs,omitempty"`
	Source      string     `json:"source,omitempty"`
	Destination string     `json:"destination,omitempty"`
	TLS         *bool      `json:"tls,omitempty"`
	Dropped     uint64     `json:"dropped,omitempty"`
	Limited     uint64     `json:"limited,omitempty"`
	Reason      string     `json:"reason,omitempty"`
}

// Encoder writes the stream's lines. It buffers nothing of its own: each
// call is one Write of a whole line. Requests are written by hand rather
// than through encoding/json, whose reflection was a good part of a
// listener's cost to the proxy; the other lines are rare.
type Encoder struct {
	w   io.Writer
	b   []byte
	buf bytes.Buffer
	enc *json.Encoder
}

// NewEncoder writes lines to w.
func NewEncoder(w io.Writer) *Encoder {
	e := &Encoder{w: w}
	e.enc = json.NewEncoder(&e.buf)
	return e
}

// Event writes a request line.
func (e *Encoder) Event(ev *Event) error {
	b := append(e.b[:0], `{"kind":"request","time":"`...)
	b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","direction":`...)
	b = appendString(b, ev.Direction)
	b = append(b, `,"method":`...)
	b = appendString(b, ev.Method)
	for _, f := range [...]struct{ name, v string }{{`,"authority":`, ev.Authority}, {`,"path":`, ev.Path}} {
		if f.v != "" {
			b = append(b, f.name...)
			b = appendString(b, f.v)
		}
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ev.Status), 10)
	b = append(b, `,"latencyMs":`...)
	b = strconv.AppendFloat(b, float64(ev.Latency.Microseconds())/1000, 'f', -1, 64)
	for _, f := range [...]struct{ name, v string }{{`,"source":`, ev.Source}, {`,"destination":`, ev.Destination}} {
		if f.v != "" {
			b = append(b, f.name...)
			b = appendString(b, f.v)
		}
	}
	b = append(b, `,"tls":`...)
	b = strconv.AppendBool(b, ev.TLS)
	b = append(b, "}\n"...)
	e.b = b
	_, err := e.w.Write(b)
	return err
}

// appendString appends s as a JSON string, as encoding/json would read
// it back: quotes, backslashes and control characters escaped, bytes
// that are not UTF-8 as U+FFFD, and U+2028 and U+2029 escaped for
// JavaScript's sake.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Missed writes a KindMissed line.
func (e *Encoder) Missed(dropped, limited uint64) error {
	return e.write(&wireLine{Kind: KindMissed, Dropped: dropped, Limited: limited})
}

// End writes the KindEnd line.
func (e *Encoder) End(reason string) error {
	return e.write(&wireLine{Kind: KindEnd, Reason: reason})
}

func (e *Encoder) write(l *wireLine) error {
	e.buf.Reset()
	if err := e.enc.Encode(l); err != nil {
		return err
	}
	_, err := e.w.Write(e.buf.Bytes())
	return err
}

// MaxLine bounds a line on the stream: an event's bounded strings with
// every byte escaped, and room to spare.
const MaxLine = 32 << 10

// maxLatencyMs bounds a decoded latency: a year.
const maxLatencyMs = 365 * 24 * 3600 * 1000

// Decoder reads a stream from a proxy, which the reader does not trust:
// lines are bounded, and every field of a known kind is checked. Lines of
// an unknown kind, from a newer proxy, are skipped; so are unknown fields.
type Decoder struct {
	s    *bufio.Scanner
	line int
}

// NewDecoder reads the stream from r.
func NewDecoder(r io.Reader) *Decoder {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 4<<10), MaxLine)
	s.Split(scanLines)
	return &Decoder{s: s}
}

// Next returns the stream's next line; io.EOF at its end, and an error
// naming the line for a line that is not what a proxy writes.
func (d *Decoder) Next() (Line, error) {
	for d.s.Scan() {
		d.line++
		l, err := decodeLine(d.s.Bytes())
		if err != nil {
			return Line{}, fmt.Errorf("line %d of the tap stream: %w", d.line, err)
		}
		if l.Kind != "" {
			return l, nil
		}
	}
	if err := d.s.Err(); err != nil {
		switch {
		case errors.Is(err, bufio.ErrTooLong):
			return Line{}, fmt.Errorf("line %d of the tap stream is over %d bytes", d.line+1, MaxLine)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Line{}, fmt.Errorf("the tap stream ends within line %d: %w", d.line+1, err)
		}
		return Line{}, err
	}
	return Line{}, io.EOF
}

// scanLines splits the stream into lines, each ended by a newline: a
// stream cut within a line (a proxy that stopped, a connection lost)
// ends with io.ErrUnexpectedEOF rather than half a line.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return 0, nil, nil
}

// decodeLine reads one line; a Line without Kind for a kind it does not
// know.
func decodeLine(b []byte) (Line, error) {
	var w wireLine
	if err := json.Unmarshal(b, &w); err != nil {
		return Line{}, fmt.Errorf("not a JSON object: %w", err)
	}
	switch w.Kind {
	case KindRequest:
		ev, err := w.event()
		return Line{Kind: KindRequest, Event: ev}, err
	case KindMissed:
		return Line{Kind: KindMissed, Dropped: w.Dropped, Limited: w.Limited}, nil
	case KindEnd:
		if len(w.Reason) > MaxPath {
			return Line{}, fmt.Errorf("the end's reason is over %d bytes", MaxPath)
		}
		return Line{Kind: KindEnd, Reason: w.Reason}, nil
	case "":
		return Line{}, errors.New("no kind")
	}
	return Line{}, nil
}

func (w *wireLine) event() (Event, error) {
	switch {
	case w.Time == nil:
		return Event{}, errors.New("a request without time")
	case w.Direction != Inbound && w.Direction != Outbound:
		return Event{}, fmt.Errorf("direction %q is neither %s nor %s", clip(w.Direction), Inbound, Outbound)
	case w.Method == "" || len(w.Method) > MaxMethod:
		return Event{}, fmt.Errorf("a method of %d bytes, not 1 to %d", len(w.Method), MaxMethod)
	case len(w.Authority) > MaxAuthority:
		return Event{}, fmt.Errorf("an authority over %d bytes", MaxAuthority)
	case len(w.Path) > MaxPath:
		return Event{}, fmt.Errorf("a path over %d bytes", MaxPath)
	case w.Status == nil || *w.Status < 0 || *w.Status > 999:
		return Event{}, errors.New("a request without a status from 0 to 999")
	case w.LatencyMs == nil || math.IsNaN(*w.LatencyMs) || *w.LatencyMs < 0 || *w.LatencyMs > maxLatencyMs:
		return Event{}, errors.New("a request without a latency from 0 to a year")
	case w.TLS == nil:
		return Event{}, errors.New("a request without tls")
	}
	for _, id := range []string{w.Source, w.Destination} {
		if id != "" && (len(id) > MaxIdentity || !strings.HasPrefix(id, "spiffe://")) {
			return Event{}, fmt.Errorf("identity %q is not a SPIFFE ID of at most %d bytes", clip(id), MaxIdentity)
		}
	}
	return Event{
		Time: *w.Time, Direction: w.Direction, Method: w.Method, Authority: w.Authority, Path: w.Path,
		Status: *w.Status, Latency: time.Duration(*w.LatencyMs * float64(time.Millisecond)),
		Source: w.Source, Destination: w.Destination, TLS: *w.TLS,
	}, nil
}

// clip shortens what an error quotes from the stream.
func clip(s string) string { return cut(s, 64) }
