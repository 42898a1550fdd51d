package propagation

import (
	"context"
	"net/http"
	"strings"
	"testing"

	otelpropagation "go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The W3C parser and writer here stand in for OpenTelemetry's TraceContext
// propagator, which the proxy does not link (see cmd/mesh-proxy's
// dependency test). These tests hold the two to the same decisions, except
// where ours differs on purpose:
//
//   - upper-case hex is accepted (the spec asks for lower case): a sender
//     that gets the case wrong stays in its trace rather than starting a
//     new one, and Inject writes lower case downstream;
//   - in version 00, trace-flags bits other than sampled are ignored rather
//     than refused (OpenTelemetry allows only 01 and 02): a flag from a
//     later level of the spec must not split the trace;
//   - a version 00 header of 56 characters, ending in "-", is refused, as
//     the spec says (version 00 is exactly 55); OpenTelemetry takes it,
//     its parser seeing an empty fifth field as none.

// otelExtract is OpenTelemetry's reading of a traceparent (and tracestate).
func otelExtract(traceparent, tracestate string) (trace.SpanContext, bool) {
	carrier := otelpropagation.MapCarrier{"traceparent": traceparent}
	if tracestate != "" {
		carrier["tracestate"] = tracestate
	}
	sc := trace.SpanContextFromContext(otelpropagation.TraceContext{}.Extract(context.Background(), carrier))
	return sc, sc.IsValid()
}

// otelInject is the traceparent OpenTelemetry writes for sc.
func otelInject(sc trace.SpanContext) string {
	carrier := otelpropagation.MapCarrier{}
	otelpropagation.TraceContext{}.Inject(trace.ContextWithRemoteSpanContext(context.Background(), sc), carrier)
	return carrier.Get("traceparent")
}

// withoutDifferences rewrites s so that OpenTelemetry decides it as
// ParseTraceparent decides s: hex in lower case, version 00's flags cut to
// the sampled bit, and version 00's empty fifth field made a non-empty one.
func withoutDifferences(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	var flags [1]byte
	if len(b) == 55 && string(b[:2]) == "00" && parseHex(string(b[53:55]), flags[:]) {
		b[53], b[54] = '0', '0'+flags[0]&1
	}
	if len(b) == 56 && string(b[:2]) == "00" && b[55] == '-' {
		b = append(b, 'x')
	}
	return string(b)
}

// sameContext says ours and OpenTelemetry's readings are the same ids and
// sampling decision.
func sameContext(ours TraceContext, theirs trace.SpanContext) bool {
	return [16]byte(ours.TraceID) == [16]byte(theirs.TraceID()) &&
		[8]byte(ours.SpanID) == [8]byte(theirs.SpanID()) &&
		ours.Sampled == theirs.IsSampled()
}

func TestTraceparentMatchesOpenTelemetry(t *testing.T) {
	const (
		trace0 = "4bf92f3577b34da6a3ce929d0e0e4736"
		span0  = "00f067aa0ba902b7"
	)
	valid := "00-" + trace0 + "-" + span0 + "-01"
	for _, tc := range []struct {
		name        string
		traceparent string
		tracestate  string
		ours        bool
		// otel differs from ours only in the cases the comment at the top
		// of this file names.
		otel bool
	}{
		{"sampled", valid, "", true, true},
		{"not sampled", "00-" + trace0 + "-" + span0 + "-00", "", true, true},
		{"random flag (level 2)", "00-" + trace0 + "-" + span0 + "-02", "", true, true},
		{"random and sampled: more than OpenTelemetry's version 00 takes", "00-" + trace0 + "-" + span0 + "-03", "", true, false},
		{"unknown flag with sampled", "00-" + trace0 + "-" + span0 + "-09", "", true, false},
		{"all flags", "00-" + trace0 + "-" + span0 + "-ff", "", true, false},
		{"upper-case trace id", "00-" + strings.ToUpper(trace0) + "-" + span0 + "-01", "", true, false},
		{"upper-case span id", "00-" + trace0 + "-" + strings.ToUpper(span0) + "-01", "", true, false},
		{"upper-case flags", "00-" + trace0 + "-" + span0 + "-0A", "", true, false},
		{"upper-case future version", "0A-" + trace0 + "-" + span0 + "-01", "", true, false},
		{"version ff", "ff-" + trace0 + "-" + span0 + "-01", "", false, false},
		{"version FF", "FF-" + trace0 + "-" + span0 + "-01", "", false, false},
		{"version fe", "fe-" + trace0 + "-" + span0 + "-01", "", true, true},
		{"future version", "01-" + trace0 + "-" + span0 + "-01", "", true, true},
		{"future version with extra fields", "cc-" + trace0 + "-" + span0 + "-01-what-the-future-will-be-like", "", true, true},
		{"future version with an empty extra field", "01-" + trace0 + "-" + span0 + "-01-", "", true, true},
		{"future version, flags run on", "01-" + trace0 + "-" + span0 + "-01x", "", false, false},
		{"version 00 with an extra field", valid + "-extra", "", false, false},
		{"version 00 with a trailing dash", valid + "-", "", false, true},
		{"all-zero trace id", "00-00000000000000000000000000000000-" + span0 + "-01", "", false, false},
		{"all-zero span id", "00-" + trace0 + "-0000000000000000-01", "", false, false},
		{"short trace id", "00-" + trace0[1:] + "-" + span0 + "-01", "", false, false},
		{"long span id", "00-" + trace0 + "-" + span0 + "0-01", "", false, false},
		{"short version", "0-" + trace0 + "-" + span0 + "-01", "", false, false},
		{"non-hex trace id", "00-" + trace0[:31] + "g-" + span0 + "-01", "", false, false},
		{"non-hex version", "0x-" + trace0 + "-" + span0 + "-01", "", false, false},
		{"non-hex flags", "00-" + trace0 + "-" + span0 + "-0g", "", false, false},
		{"other separator", strings.ReplaceAll(valid, "-", "_"), "", false, false},
		{"leading space", " " + valid, "", false, false},
		{"trailing space", valid + " ", "", false, false},
		{"empty", "", "", false, false},
		// tracestate is not parsed here (Inject leaves it as it came), and
		// OpenTelemetry ignores one it cannot parse: neither changes the
		// traceparent's decision.
		{"tracestate", valid, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", true, true},
		{"tracestate too long", valid, strings.Repeat("k=v,", 33) + "k=v", true, true},
		{"tracestate malformed", valid, "=,=,", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ours, ok := ParseTraceparent(tc.traceparent)
			theirs, otelOK := otelExtract(tc.traceparent, tc.tracestate)
			if ok != tc.ours || otelOK != tc.otel {
				t.Fatalf("%q: ours %v, OpenTelemetry %v; want %v, %v", tc.traceparent, ok, otelOK, tc.ours, tc.otel)
			}
			if ok != otelOK {
				// A documented difference: OpenTelemetry decides the
				// rewritten header as we decide the original, and reads
				// it the same.
				if theirs, otelOK = otelExtract(withoutDifferences(tc.traceparent), tc.tracestate); otelOK != ok {
					t.Fatalf("%q: ours %v, OpenTelemetry %v for a reason this file does not document", tc.traceparent, ok, otelOK)
				}
			}
			if !ok {
				return
			}
			if !sameContext(ours, theirs) {
				t.Fatalf("%q: ours %+v, OpenTelemetry %v %v sampled=%v", tc.traceparent, ours, theirs.TraceID(), theirs.SpanID(), theirs.IsSampled())
			}
			h := http.Header{}
			Inject(h, ours)
			if got, want := h.Get(HeaderTraceparent), otelInject(theirs); got != want {
				t.Fatalf("Inject wrote %q, OpenTelemetry %q", got, want)
			}
		})
	}
}

// FuzzTraceparentMatchesOpenTelemetry: for any header, ParseTraceparent
// decides as OpenTelemetry does once the documented differences are
// rewritten away, and reads the same ids and sampling decision.
func FuzzTraceparentMatchesOpenTelemetry(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-03")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ours, ok := ParseTraceparent(s)
		theirs, otelOK := otelExtract(withoutDifferences(s), "")
		if ok != otelOK {
			t.Fatalf("%q: ours %v, OpenTelemetry (of %q) %v", s, ok, withoutDifferences(s), otelOK)
		}
		if ok && !sameContext(ours, theirs) {
			t.Fatalf("%q: ours %+v, OpenTelemetry %v %v sampled=%v", s, ours, theirs.TraceID(), theirs.SpanID(), theirs.IsSampled())
		}
	})
}
