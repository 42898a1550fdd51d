package propagation

import (
	"net/http"
	"testing"

	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestExtract(t *testing.T) {
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	const span = "00f067aa0ba902b7"
	for _, tc := range []struct {
		name    string
		headers map[string]string
		ok      bool
		trace   string
		sampled bool
	}{
		{"w3c", map[string]string{"traceparent": "00-" + trace + "-" + span + "-01"}, true, trace, true},
		{"w3c unsampled", map[string]string{"traceparent": "00-" + trace + "-" + span + "-00"}, true, trace, false},
		{"w3c future version with extra field", map[string]string{"traceparent": "01-" + trace + "-" + span + "-01-extra"}, true, trace, true},
		{"w3c version 00 with extra", map[string]string{"traceparent": "00-" + trace + "-" + span + "-01-x"}, false, "", false},
		{"w3c zero trace", map[string]string{"traceparent": "00-00000000000000000000000000000000-" + span + "-01"}, false, "", false},
		{"w3c bad hex", map[string]string{"traceparent": "00-" + trace[:31] + "g-" + span + "-01"}, false, "", false},
		{"b3 single", map[string]string{"b3": trace + "-" + span + "-1"}, true, trace, true},
		{"b3 single 64-bit", map[string]string{"b3": "a3ce929d0e0e4736-" + span}, true, "0000000000000000a3ce929d0e0e4736", true},
		{"b3 single deny", map[string]string{"b3": "0"}, false, "", false},
		{"b3 multi", map[string]string{"X-B3-TraceId": trace, "X-B3-SpanId": span, "X-B3-Sampled": "0"}, true, trace, false},
		{"w3c wins over b3", map[string]string{"traceparent": "00-" + trace + "-" + span + "-01", "b3": "a3ce929d0e0e4736-" + span}, true, trace, true},
		{"malformed w3c falls back to b3", map[string]string{"traceparent": "garbage", "X-B3-TraceId": trace, "X-B3-SpanId": span}, true, trace, true},
		{"none", map[string]string{}, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			got, ok := Extract(h)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (got.TraceID.String() != tc.trace || got.Sampled != tc.sampled) {
				t.Fatalf("got %s sampled=%v, want %s sampled=%v", got.TraceID, got.Sampled, tc.trace, tc.sampled)
			}
		})
	}
}

func TestInjectRoundTrips(t *testing.T) {
	tc := TraceContext{TraceID: NewTraceID(), SpanID: NewSpanID(), Sampled: true}
	h := http.Header{}
	h.Set("b3", "garbage-single")
	h.Set("tracestate", "vendor=x")
	Inject(h, tc)
	if got, ok := ParseTraceparent(h.Get(HeaderTraceparent)); !ok || got != tc {
		t.Fatalf("traceparent %q does not round-trip", h.Get(HeaderTraceparent))
	}
	h.Del(HeaderTraceparent)
	if got, ok := Extract(h); !ok || got != tc {
		t.Fatalf("B3 headers %v do not round-trip: %v", h, got)
	}
	if h.Get("b3") != "" || h.Get("tracestate") != "vendor=x" {
		t.Fatalf("b3 single must be replaced and tracestate kept: %v", h)
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tc, ok := ParseTraceparent(s)
		if !ok {
			return
		}
		if !tc.TraceID.IsValid() || !tc.SpanID.IsValid() {
			t.Fatalf("accepted zero IDs from %q", s)
		}
		h := http.Header{}
		Inject(h, tc)
		if again, ok := ParseTraceparent(h.Get(HeaderTraceparent)); !ok || again != tc {
			t.Fatalf("%q: re-rendered traceparent does not parse back", s)
		}
	})
}

func FuzzParseB3(f *testing.F) {
	f.Add("4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1-00f067aa0ba902b6")
	f.Add("a3ce929d0e0e4736-00f067aa0ba902b7")
	f.Add("d")
	f.Fuzz(func(t *testing.T, s string) {
		if tc, ok := ParseB3(s); ok && (!tc.TraceID.IsValid() || !tc.SpanID.IsValid()) {
			t.Fatalf("accepted zero IDs from %q", s)
		}
	})
}
