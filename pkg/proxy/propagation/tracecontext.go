// Package propagation owns trace context and the Authorization propagation
// it keys: reading and writing W3C traceparent and B3 headers, and the
// bounded store that lets the outbound proxy add an inbound request's
// Authorization header to the calls the app makes while serving it.
package propagation

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"strings"
)

// Header names of the two trace-context formats the proxy speaks.
const (
	HeaderTraceparent = "Traceparent"
	HeaderB3          = "B3"
	HeaderB3TraceID   = "X-B3-Traceid"
	HeaderB3SpanID    = "X-B3-Spanid"
	HeaderB3ParentID  = "X-B3-Parentspanid"
	HeaderB3Sampled   = "X-B3-Sampled"
	HeaderB3Flags     = "X-B3-Flags"
)

// TraceID identifies a trace (128 bits; 64-bit B3 IDs are left-padded).
type TraceID [16]byte

// SpanID identifies a span.
type SpanID [8]byte

// String is the lower-case hex form used by both formats.
func (t TraceID) String() string { return hex.EncodeToString(t[:]) }

// String is the lower-case hex form used by both formats.
func (s SpanID) String() string { return hex.EncodeToString(s[:]) }

// IsValid reports whether t is not all zeros, which both formats forbid.
func (t TraceID) IsValid() bool { return t != TraceID{} }

// IsValid reports whether s is not all zeros.
func (s SpanID) IsValid() bool { return s != SpanID{} }

// TraceContext is the position of a request in a trace.
type TraceContext struct {
	TraceID TraceID
	SpanID  SpanID
	Sampled bool
}

// NewTraceID returns a random trace ID. IDs need to be unique, not secret:
// math/rand/v2's per-thread generator is fast and never blocks.
func NewTraceID() TraceID {
	var t TraceID
	for !t.IsValid() {
		put64(t[:8], rand.Uint64())
		put64(t[8:], rand.Uint64())
	}
	return t
}

// NewSpanID returns a random span ID.
func NewSpanID() SpanID {
	var s SpanID
	for !s.IsValid() {
		put64(s[:], rand.Uint64())
	}
	return s
}

func put64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// Header is the fields of a request: http.Header, or the lean path's
// h1.Header.
type Header interface {
	Get(key string) string
	Set(key, value string)
	Del(key string)
}

// Extract reads the trace context of h: W3C traceparent first, then B3
// single-header, then B3 multi-header. Malformed headers count as absent,
// so a bad header starts a new trace rather than failing the request.
func Extract(h Header) (TraceContext, bool) {
	if tc, ok := ParseTraceparent(h.Get(HeaderTraceparent)); ok {
		return tc, true
	}
	if tc, ok := ParseB3(h.Get(HeaderB3)); ok {
		return tc, true
	}
	var tc TraceContext
	if !parseTraceID(h.Get(HeaderB3TraceID), &tc.TraceID) || !parseHex(h.Get(HeaderB3SpanID), tc.SpanID[:]) {
		return TraceContext{}, false
	}
	tc.Sampled = h.Get(HeaderB3Sampled) != "0"
	return tc, true
}

// Inject writes tc into h in both formats, so that an app that forwards
// either format stays in the trace. A B3 single header is replaced by the
// multi-header form; tracestate, if any, is left as it was.
func Inject(h Header, tc TraceContext) {
	// One string holds the traceparent; the B3 IDs are slices of it.
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], tc.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], tc.SpanID[:])
	copy(b[52:], "-00")
	sampled := "0"
	if tc.Sampled {
		b[54], sampled = '1', "1"
	}
	tp := string(b[:])
	h.Set(HeaderTraceparent, tp)
	h.Del(HeaderB3)
	h.Del(HeaderB3ParentID)
	h.Del(HeaderB3Flags)
	h.Set(HeaderB3TraceID, tp[3:35])
	h.Set(HeaderB3SpanID, tp[36:52])
	h.Set(HeaderB3Sampled, sampled)
}

// ParseTraceparent parses a W3C traceparent (version 00, or a later
// version's first four fields as the spec asks). Where leniency keeps a
// trace whole it is lenient: hex digits may be upper case, and flags other
// than sampled are ignored. tracestate is not read: Inject leaves it as it
// came.
func ParseTraceparent(s string) (TraceContext, bool) {
	var tc TraceContext
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return tc, false
	}
	var version, flags [1]byte
	if !parseHex(s[:2], version[:]) || version[0] == 0xff || (version[0] == 0 && len(s) != 55) || (len(s) > 55 && s[55] != '-') {
		return tc, false
	}
	if !parseHex(s[3:35], tc.TraceID[:]) || !parseHex(s[36:52], tc.SpanID[:]) || !parseHex(s[53:55], flags[:]) {
		return tc, false
	}
	if !tc.TraceID.IsValid() || !tc.SpanID.IsValid() {
		return TraceContext{}, false
	}
	tc.Sampled = flags[0]&1 == 1
	return tc, true
}

// ParseB3 parses the B3 single header: {trace}-{span}[-{sampled}[-{parent}]].
// The bare sampling forms ("0", "1", "d") carry no IDs and are absent here.
func ParseB3(s string) (TraceContext, bool) {
	parts := strings.Split(s, "-")
	if len(parts) < 2 || len(parts) > 4 {
		return TraceContext{}, false
	}
	var tc TraceContext
	if !parseTraceID(parts[0], &tc.TraceID) || !parseHex(parts[1], tc.SpanID[:]) || !tc.SpanID.IsValid() {
		return TraceContext{}, false
	}
	tc.Sampled = true
	if len(parts) >= 3 {
		switch parts[2] {
		case "0":
			tc.Sampled = false
		case "1", "d":
		default:
			return TraceContext{}, false
		}
	}
	return tc, true
}

// parseTraceID accepts 32 or 16 hex digits (B3's 64-bit IDs).
func parseTraceID(s string, t *TraceID) bool {
	var ok bool
	switch len(s) {
	case 32:
		ok = parseHex(s, t[:])
	case 16:
		*t = TraceID{}
		ok = parseHex(s, t[8:])
	}
	return ok && t.IsValid()
}

// parseHex decodes exactly len(dst) bytes of lower- or upper-case hex.
func parseHex(s string, dst []byte) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	_, err := hex.Decode(dst, []byte(s))
	return err == nil
}

type traceKey struct{}

// WithTrace returns ctx carrying the trace context the request was (or
// will be) sent with.
func WithTrace(ctx context.Context, tc TraceContext) context.Context {
	return context.WithValue(ctx, traceKey{}, tc)
}

// TraceFrom returns the trace context WithTrace stored.
func TraceFrom(ctx context.Context) (TraceContext, bool) {
	tc, ok := ctx.Value(traceKey{}).(TraceContext)
	return tc, ok
}
