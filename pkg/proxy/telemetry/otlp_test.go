package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
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

// TestOTLPEncodingMatchesGeneratedTypes encodes a varied batch with the
// hand-written encoder and with the generated types (the encoder this
// package used before), and wants the same bytes: a wrong field number,
// wire type or length shows up here even where the decoded message would
// happen to look plausible.
func TestOTLPEncodingMatchesGeneratedTypes(t *testing.T) {
	spans := variedSpans(t)
	got := marshalSpans(spans)
	want, err := marshalSpansReference(spans)
	if err != nil {
		t.Fatal(err)
	}
	var gotReq, wantReq collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(got, &gotReq); err != nil {
		t.Fatalf("hand-written encoding does not decode: %v", err)
	}
	if err := proto.Unmarshal(want, &wantReq); err != nil {
		t.Fatal(err)
	}
	// Guard against a batch that compares equal because it is empty.
	if n := len(wantReq.ResourceSpans); n != 3 {
		t.Fatalf("reference request has %d resources, want 3", n)
	}
	var nScopes, nSpans int
	for _, rs := range wantReq.ResourceSpans {
		nScopes += len(rs.ScopeSpans)
		for _, ss := range rs.ScopeSpans {
			nSpans += len(ss.Spans)
		}
	}
	if nScopes != 5 || nSpans != len(spans) {
		t.Fatalf("reference request has %d scopes and %d spans, want 5 and %d", nScopes, nSpans, len(spans))
	}
	if !proto.Equal(&gotReq, &wantReq) {
		t.Errorf("decoded requests differ, first at %s", firstDifference(&gotReq, &wantReq))
	}
	if !bytes.Equal(got, want) {
		t.Errorf("encodings differ (%d and %d bytes) though they decode alike: field order or a default written", len(got), len(want))
	}
}

// BenchmarkOTLPMarshal compares the hand-written encoder with the
// generated types it replaced, on the batch of the test above.
func BenchmarkOTLPMarshal(b *testing.B) {
	spans := variedSpans(b)
	b.Run("protowire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			marshalSpans(spans)
		}
	})
	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshalSpansReference(spans); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// firstDifference names the first resource, scope or span where two
// requests differ and shows both, cut short: the whole requests would bury
// the difference under the 16 KiB test attributes.
func firstDifference(got, want *collectorpb.ExportTraceServiceRequest) string {
	show := func(path string, got, want proto.Message) string {
		g, w := prototext.Format(got), prototext.Format(want)
		return fmt.Sprintf("%s\n got: %.2000s\nwant: %.2000s", path, g, w)
	}
	if len(got.ResourceSpans) != len(want.ResourceSpans) {
		return fmt.Sprintf("resource_spans: %d, want %d", len(got.ResourceSpans), len(want.ResourceSpans))
	}
	for i, grs := range got.ResourceSpans {
		wrs := want.ResourceSpans[i]
		path := fmt.Sprintf("resource_spans[%d]", i)
		if !proto.Equal(grs.Resource, wrs.Resource) || grs.SchemaUrl != wrs.SchemaUrl || len(grs.ScopeSpans) != len(wrs.ScopeSpans) {
			grs, wrs := proto.Clone(grs).(*tracepb.ResourceSpans), proto.Clone(wrs).(*tracepb.ResourceSpans)
			grs.ScopeSpans, wrs.ScopeSpans = nil, nil
			return show(path+" (scope_spans left out)", grs, wrs)
		}
		for j, gss := range grs.ScopeSpans {
			wss := wrs.ScopeSpans[j]
			path := fmt.Sprintf("%s.scope_spans[%d]", path, j)
			if !proto.Equal(gss.Scope, wss.Scope) || gss.SchemaUrl != wss.SchemaUrl || len(gss.Spans) != len(wss.Spans) {
				gss, wss := proto.Clone(gss).(*tracepb.ScopeSpans), proto.Clone(wss).(*tracepb.ScopeSpans)
				gss.Spans, wss.Spans = nil, nil
				return show(path+" (spans left out)", gss, wss)
			}
			for k, gs := range gss.Spans {
				if ws := wss.Spans[k]; !proto.Equal(gs, ws) {
					return show(fmt.Sprintf("%s.spans[%d]", path, k), gs, ws)
				}
			}
		}
	}
	return "no resource, scope or span (unknown fields?)"
}

// variedSpans makes spans that between them set every field the encoder
// writes, with each attribute type (zero values and empty slices too, which
// proto3 treats specially inside a oneof), strings around the lengths where
// a varint length prefix grows, and spans of three resources and several
// scopes interleaved, so grouping has to collect them.
func variedSpans(t testing.TB) []sdktrace.ReadOnlySpan {
	t.Helper()
	long := func(n int) string { return strings.Repeat("x", n) }
	allTypes := []attribute.KeyValue{
		attribute.String("s", "v"), attribute.String("s.empty", ""),
		attribute.String("s.127", long(127)), attribute.String("s.128", long(128)), attribute.String("s.16384", long(16384)),
		attribute.Bool("b", true), attribute.Bool("b.false", false),
		attribute.Int64("i", 7), attribute.Int64("i.zero", 0), attribute.Int64("i.neg", -1), attribute.Int64("i.max", 1<<62),
		attribute.Float64("f", 1.5), attribute.Float64("f.zero", 0), attribute.Float64("f.neg", -2.25),
		attribute.StringSlice("ss", []string{"a", "", long(200)}), attribute.StringSlice("ss.empty", []string{}),
		attribute.BoolSlice("bs", []bool{true, false}), attribute.BoolSlice("bs.empty", nil),
		attribute.Int64Slice("is", []int64{0, -5, 1 << 40}), attribute.Int64Slice("is.empty", []int64{}),
		attribute.Float64Slice("fs", []float64{0, 3.25, -1e300}), attribute.Float64Slice("fs.empty", nil),
	}
	ts, err := trace.ParseTraceState("vendor=abc,other=1")
	if err != nil {
		t.Fatal(err)
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 15: 1}, SpanID: trace.SpanID{0x00, 0xf0, 7: 2},
		TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	})
	local := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6},
	})
	rec := tracetest.NewSpanRecorder()
	provider := func(res *resource.Resource, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
		tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))...)
		t.Cleanup(func() { tp.Shutdown(context.Background()) })
		return tp
	}
	withSchema := provider(resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		semconv.ServiceName("books.shop"), attribute.Int64("replica", 3), attribute.StringSlice("zones", []string{"a", "b"})))
	schemaless := provider(resource.NewSchemaless(semconv.ServiceName("reviews")))
	// Low limits, so the dropped counts are set (every field given: raw
	// limits take zero as "none allowed").
	limited := provider(resource.Empty(), sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
		AttributeValueLengthLimit: -1, AttributeCountLimit: 2, EventCountLimit: 1, LinkCountLimit: 1,
		AttributePerEventCountLimit: 1, AttributePerLinkCountLimit: 1,
	}))

	full := withSchema.Tracer("full", trace.WithInstrumentationVersion("1.2.3"), trace.WithSchemaURL("https://example.com/scope"),
		trace.WithInstrumentationAttributes(attribute.String("lib", "proxy"), attribute.Bool("lean", true)))
	bare := withSchema.Tracer("")
	other := schemaless.Tracer("other", trace.WithInstrumentationVersion("0.1"))
	lim := limited.Tracer("limited")
	lim2 := limited.Tracer("limited", trace.WithInstrumentationVersion("2"))

	start := time.Date(2026, 11, 22, 3, 0, 0, 123456789, time.UTC)
	at := func(d time.Duration) trace.SpanStartEventOption { return trace.WithTimestamp(start.Add(d)) }
	remoteCtx := trace.ContextWithRemoteSpanContext(context.Background(), remote)

	// Spans of different resources and scopes alternate.
	ctx, root := full.Start(context.Background(), "root", trace.WithSpanKind(trace.SpanKindServer), at(0),
		trace.WithAttributes(allTypes...))
	root.AddEvent("retry", trace.WithTimestamp(start.Add(time.Millisecond)), trace.WithAttributes(allTypes...))
	root.AddEvent("") // an event without name, attributes or explicit time
	root.SetStatus(codes.Ok, "")
	_, child := bare.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindClient), at(time.Millisecond),
		trace.WithLinks(trace.Link{SpanContext: remote, Attributes: allTypes}, trace.Link{SpanContext: local}))
	child.SetStatus(codes.Error, "upstream reset")
	child.End(trace.WithTimestamp(start.Add(2 * time.Millisecond)))
	_, o := other.Start(remoteCtx, "from remote", trace.WithSpanKind(trace.SpanKindProducer), at(0))
	o.End(trace.WithTimestamp(start.Add(time.Second)))
	_, l1 := lim.Start(trace.ContextWithSpanContext(context.Background(), local.WithTraceFlags(trace.FlagsSampled)), "limited", trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(allTypes[:5]...), trace.WithLinks(trace.Link{SpanContext: local}, trace.Link{SpanContext: remote, Attributes: allTypes[:3]}))
	// The limits keep the last event and link, and of those the first attribute.
	l1.AddEvent("dropped")
	l1.AddEvent("kept", trace.WithAttributes(allTypes[:3]...))
	l1.SetStatus(codes.Error, "")
	l1.End()
	_, internal := full.Start(ctx, "internal", at(3*time.Millisecond))
	internal.End(trace.WithTimestamp(start.Add(4 * time.Millisecond)))
	_, l2 := lim2.Start(context.Background(), "limited v2", trace.WithSpanKind(trace.SpanKindInternal))
	l2.End()
	root.End(trace.WithTimestamp(start.Add(5 * time.Millisecond)))
	_, o2 := other.Start(context.Background(), "other again", trace.WithAttributes(attribute.String("k", "v")))
	o2.End()

	spans := rec.Ended()
	if len(spans) != 7 {
		t.Fatalf("recorded %d spans, want 7", len(spans))
	}
	return spans
}

// marshalSpansReference is the encoder this package used before it wrote
// the wire format by hand: the upstream generated types and proto.Marshal,
// kept here (tests may link the protobuf runtime; mesh-proxy may not) as
// what marshalSpans must reproduce.
func marshalSpansReference(spans []sdktrace.ReadOnlySpan) ([]byte, error) {
	type scopeKey struct {
		res   *resource.Resource
		scope instrumentation.Scope
	}
	byResource := map[*resource.Resource]*tracepb.ResourceSpans{}
	byScope := map[scopeKey]*tracepb.ScopeSpans{}
	var order []*tracepb.ResourceSpans
	for _, s := range spans {
		res := s.Resource()
		rs, ok := byResource[res]
		if !ok {
			rs = &tracepb.ResourceSpans{Resource: &resourcepb.Resource{Attributes: refKeyValues(res.Attributes())}, SchemaUrl: res.SchemaURL()}
			byResource[res] = rs
			order = append(order, rs)
		}
		k := scopeKey{res, s.InstrumentationScope()}
		ss, ok := byScope[k]
		if !ok {
			ss = &tracepb.ScopeSpans{
				Scope:     &commonpb.InstrumentationScope{Name: k.scope.Name, Version: k.scope.Version, Attributes: refKeyValues(k.scope.Attributes.ToSlice())},
				SchemaUrl: k.scope.SchemaURL,
			}
			byScope[k] = ss
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		ss.Spans = append(ss.Spans, refSpan(s))
	}
	var b []byte
	for _, rs := range order {
		m, err := proto.Marshal(rs)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b, nil
}

func refSpan(s sdktrace.ReadOnlySpan) *tracepb.Span {
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	p := &tracepb.Span{
		TraceId:                tid[:],
		SpanId:                 sid[:],
		TraceState:             sc.TraceState().String(),
		Flags:                  uint32(sc.TraceFlags()) | flagHasIsRemote,
		Name:                   s.Name(),
		Kind:                   refSpanKind(s.SpanKind()),
		StartTimeUnixNano:      uint64(s.StartTime().UnixNano()),
		EndTimeUnixNano:        uint64(s.EndTime().UnixNano()),
		Attributes:             refKeyValues(s.Attributes()),
		DroppedAttributesCount: uint32(s.DroppedAttributes()),
		DroppedEventsCount:     uint32(s.DroppedEvents()),
		DroppedLinksCount:      uint32(s.DroppedLinks()),
		Status:                 refStatus(s.Status()),
	}
	if parent.SpanID().IsValid() {
		psid := parent.SpanID()
		p.ParentSpanId = psid[:]
		if parent.IsRemote() {
			p.Flags |= flagIsRemote
		}
	}
	for _, ev := range s.Events() {
		p.Events = append(p.Events, &tracepb.Span_Event{
			TimeUnixNano: uint64(ev.Time.UnixNano()), Name: ev.Name,
			Attributes: refKeyValues(ev.Attributes), DroppedAttributesCount: uint32(ev.DroppedAttributeCount),
		})
	}
	for _, l := range s.Links() {
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		flags := uint32(l.SpanContext.TraceFlags()) | flagHasIsRemote
		if l.SpanContext.IsRemote() {
			flags |= flagIsRemote
		}
		p.Links = append(p.Links, &tracepb.Span_Link{
			TraceId: ltid[:], SpanId: lsid[:], TraceState: l.SpanContext.TraceState().String(), Flags: flags,
			Attributes: refKeyValues(l.Attributes), DroppedAttributesCount: uint32(l.DroppedAttributeCount),
		})
	}
	return p
}

func refSpanKind(k trace.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case trace.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case trace.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case trace.SpanKindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case trace.SpanKindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	}
	return tracepb.Span_SPAN_KIND_UNSPECIFIED
}

func refStatus(s sdktrace.Status) *tracepb.Status {
	code := tracepb.Status_STATUS_CODE_UNSET
	switch s.Code {
	case codes.Ok:
		code = tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		code = tracepb.Status_STATUS_CODE_ERROR
	}
	return &tracepb.Status{Code: code, Message: s.Description}
}

func refKeyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, &commonpb.KeyValue{Key: string(a.Key), Value: refAnyValue(a.Value)})
	}
	return out
}

func refAnyValue(v attribute.Value) *commonpb.AnyValue {
	switch v.Type() {
	case attribute.BOOL:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}}
	case attribute.INT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}}
	case attribute.FLOAT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}}
	case attribute.STRING:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v.AsString()}}
	case attribute.BOOLSLICE:
		return refArray(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return refArray(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return refArray(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return refArray(v.AsStringSlice(), attribute.StringValue)
	}
	return &commonpb.AnyValue{}
}

func refArray[T any](vs []T, value func(T) attribute.Value) *commonpb.AnyValue {
	arr := &commonpb.ArrayValue{}
	for _, v := range vs {
		arr.Values = append(arr.Values, refAnyValue(value(v)))
	}
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: arr}}
}
