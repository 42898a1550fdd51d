package telemetry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestOTLPExportDecodes sends a span through the SDK's batcher and our
// exporter, and decodes what the collector got with the upstream
// generated ExportTraceServiceRequest.
func TestOTLPExportDecodes(t *testing.T) {
	bodies := make(chan []byte, 4)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("collector got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	defer collector.Close()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(newOTLPHTTP(collector.URL+"/v1/traces")),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("books.shop"))),
	)
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9}, SpanID: trace.SpanID{0x00, 0xf0}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, s := tp.Tracer("scope").Start(ctx, "inbound GET", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("s", "v"), attribute.Int("i", 7), attribute.Bool("b", true),
			attribute.Float64("f", 1.5), attribute.StringSlice("ss", []string{"a", "b"})),
		trace.WithLinks(trace.Link{SpanContext: parent}))
	s.AddEvent("retry", trace.WithAttributes(attribute.Int("n", 2)))
	s.SetStatus(codes.Error, "boom")
	s.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var req collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(<-bodies, &req); err != nil {
		t.Fatal(err)
	}
	if len(req.ResourceSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans) != 1 || len(req.ResourceSpans[0].ScopeSpans[0].Spans) != 1 {
		t.Fatalf("request %v: want one resource, scope and span", &req)
	}
	rs := req.ResourceSpans[0]
	if kv := rs.Resource.Attributes; len(kv) != 1 || kv[0].Key != "service.name" || kv[0].Value.GetStringValue() != "books.shop" {
		t.Errorf("resource %v", rs.Resource)
	}
	if rs.ScopeSpans[0].Scope.Name != "scope" {
		t.Errorf("scope %v", rs.ScopeSpans[0].Scope)
	}
	sp := rs.ScopeSpans[0].Spans[0]
	tid, psid := parent.TraceID(), parent.SpanID()
	if !bytes.Equal(sp.TraceId, tid[:]) || !bytes.Equal(sp.ParentSpanId, psid[:]) || len(sp.SpanId) != 8 ||
		sp.Name != "inbound GET" || sp.Kind != tracepb.Span_SPAN_KIND_SERVER || sp.Flags != 0x301 ||
		sp.EndTimeUnixNano < sp.StartTimeUnixNano || sp.StartTimeUnixNano == 0 {
		t.Errorf("span %v", sp)
	}
	if sp.Status.Code != tracepb.Status_STATUS_CODE_ERROR || sp.Status.Message != "boom" {
		t.Errorf("status %v", sp.Status)
	}
	attrs := map[string]string{}
	for _, kv := range sp.Attributes {
		attrs[kv.Key] = kv.Value.String()
	}
	for k, want := range map[string]string{"s": `string_value:"v"`, "i": "int_value:7", "b": "bool_value:true", "f": "double_value:1.5"} {
		if got := attrs[k]; got != want {
			t.Errorf("attribute %s = %s, want %s", k, got, want)
		}
	}
	if ss := attrs["ss"]; ss == "" {
		t.Error("string slice attribute missing")
	}
	if len(sp.Events) != 1 || sp.Events[0].Name != "retry" || len(sp.Links) != 1 || !bytes.Equal(sp.Links[0].TraceId, tid[:]) {
		t.Errorf("events %v, links %v", sp.Events, sp.Links)
	}
}

func TestOTLPExportReportsCollectorErrors(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer collector.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	_, s := tp.Tracer("t").Start(context.Background(), "x")
	s.End()
	ro := s.(sdktrace.ReadOnlySpan)
	for _, tc := range []struct{ name, url, want string }{
		{"503", collector.URL + "/v1/traces", "503"},
		{"unreachable", gone.URL + "/v1/traces", "connect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newOTLPHTTP(tc.url).ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{ro})
			if err == nil {
				t.Fatal("no error")
			}
			// The log line must say which collector failed.
			if !strings.Contains(err.Error(), tc.url) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q; want it to name %s and say %q", err, tc.url, tc.want)
			}
		})
	}
}
