package telemetry

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Tracer starts the proxy's spans. The zero value (tracing disabled) still
// gives every request a span ID, so trace context propagates whether or not
// spans are exported.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// NewTracer exports spans over OTLP/HTTP to the collector in cfg, as
// service (the pod's workload name). Shutdown flushes them.
func NewTracer(ctx context.Context, cfg wire.Tracing, service string) (*Tracer, error) {
	if cfg.Address == "" {
		return nil, fmt.Errorf("tracing exporter for :%d%s: no collector address", cfg.Port, cfg.Endpoint)
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(cfg.Address, strconv.Itoa(int(cfg.Port))), Path: cfg.Endpoint}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(newOTLPHTTP(u.String())),
		// The caller's sampling decision (in the traceparent flags) wins.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	)
	return &Tracer{provider: tp, tracer: tp.Tracer("github.com/meshctl/meshctl/pkg/proxy")}, nil
}

// Enabled reports whether spans are exported.
func (t *Tracer) Enabled() bool { return t != nil && t.provider != nil }

// Shutdown flushes pending spans.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// Span is one started span; End finishes it.
type Span struct {
	// Context is the span's own trace context, to pass on as the parent.
	Context propagation.TraceContext
	span    trace.Span
}

// End records the response status and finishes the span.
func (s Span) End(status int) {
	if s.span == nil {
		return
	}
	s.span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= 500 {
		s.span.SetStatus(codes.Error, "")
	}
	s.span.End()
}

// Start starts a span as a child of parent, or of a new trace when
// hasParent is false. server says whether the proxy receives (inbound) or
// sends (outbound) the request.
func (t *Tracer) Start(ctx context.Context, name string, server bool, parent propagation.TraceContext, hasParent bool, attrs ...attribute.KeyValue) Span {
	if !t.Enabled() {
		sc := propagation.TraceContext{TraceID: parent.TraceID, SpanID: propagation.NewSpanID(), Sampled: parent.Sampled}
		if !hasParent {
			sc.TraceID, sc.Sampled = propagation.NewTraceID(), true
		}
		return Span{Context: sc}
	}
	if hasParent {
		flags := trace.TraceFlags(0)
		if parent.Sampled {
			flags = trace.FlagsSampled
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID(parent.TraceID), SpanID: trace.SpanID(parent.SpanID), TraceFlags: flags, Remote: true,
		}))
	}
	kind := trace.SpanKindClient
	if server {
		kind = trace.SpanKindServer
	}
	_, span := t.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	sc := span.SpanContext()
	return Span{
		Context: propagation.TraceContext{TraceID: propagation.TraceID(sc.TraceID()), SpanID: propagation.SpanID(sc.SpanID()), Sampled: sc.IsSampled()},
		span:    span,
	}
}
