package telemetry

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Tracer starts the proxy's spans. A nil or disabled Tracer still gives
// every request a span ID, so trace context propagates whether or not
// spans are exported. Configure turns export on, off or elsewhere while
// the proxy runs (the MeshConfig's tracing settings reach it over the
// channel); a request reads the exporter in force once, an atomic load.
type Tracer struct {
	service string
	cur     atomic.Pointer[exporter]
}

// exporter is one OTLP export pipeline and where it sends.
type exporter struct {
	cfg      wire.Tracing
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// NewTracer exports spans over OTLP/HTTP to the collector in cfg, as
// service (the pod's workload name). Shutdown flushes them.
func NewTracer(ctx context.Context, cfg wire.Tracing, service string) (*Tracer, error) {
	t := &Tracer{service: service}
	if err := t.Configure(ctx, &cfg); err != nil {
		return nil, err
	}
	return t, nil
}

// NewDisabledTracer exports nothing until Configure says where.
func NewDisabledTracer(service string) *Tracer { return &Tracer{service: service} }

// Configure exports to the collector cfg names from now on, or nothing
// when cfg is nil. Spans the previous exporter holds are flushed in the
// background, bounded by ShutdownTimeout. The same collector again
// changes nothing.
func (t *Tracer) Configure(ctx context.Context, cfg *wire.Tracing) error {
	old := t.cur.Load()
	if cfg == nil {
		if old == nil {
			return nil
		}
		t.cur.Store(nil)
		go flush(old)
		return nil
	}
	if old != nil && old.cfg == *cfg {
		return nil
	}
	if cfg.Address == "" {
		return fmt.Errorf("tracing exporter for :%d%s: no collector address", cfg.Port, cfg.Endpoint)
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(cfg.Address, strconv.Itoa(int(cfg.Port))), Path: cfg.Endpoint}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(newOTLPHTTP(u.String())),
		// The caller's sampling decision (in the traceparent flags) wins.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(t.service))),
	)
	t.cur.Store(&exporter{cfg: *cfg, provider: tp, tracer: tp.Tracer("github.com/meshctl/meshctl/pkg/proxy")})
	if old != nil {
		go flush(old)
	}
	return nil
}

// ShutdownTimeout bounds the flush of an exporter that Configure replaced.
const ShutdownTimeout = 5 * time.Second

func flush(e *exporter) {
	ctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	_ = e.provider.Shutdown(ctx)
}

// Enabled reports whether spans are exported.
func (t *Tracer) Enabled() bool { return t != nil && t.cur.Load() != nil }

// Collector is where spans go, nil when they are not exported.
func (t *Tracer) Collector() *wire.Tracing {
	if t == nil {
		return nil
	}
	if e := t.cur.Load(); e != nil {
		c := e.cfg
		return &c
	}
	return nil
}

// Shutdown flushes pending spans and stops exporting.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	e := t.cur.Swap(nil)
	if e == nil {
		return nil
	}
	return e.provider.Shutdown(ctx)
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
	var e *exporter
	if t != nil {
		e = t.cur.Load()
	}
	if e == nil {
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
	_, span := e.tracer.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	sc := span.SpanContext()
	return Span{
		Context: propagation.TraceContext{TraceID: propagation.TraceID(sc.TraceID()), SpanID: propagation.SpanID(sc.SpanID()), Sampled: sc.IsSampled()},
		span:    span,
	}
}
