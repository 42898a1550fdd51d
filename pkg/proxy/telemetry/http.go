package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/meshctl/meshctl/pkg/proxy/forward"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
)

// HTTP wraps one direction's handler with tracing, metrics and the access
// log. Zero values of the optional fields turn their part off.
type HTTP struct {
	// Direction is "inbound" or "outbound".
	Direction string
	// Inbound requests always get a span (a new trace when they carry
	// none) whose context is passed to the app in W3C and B3 headers.
	// Outbound requests get a client span only when tracing exports, so
	// with tracing off the app's own context goes out unchanged.
	Inbound bool
	// Next handles the request.
	Next http.Handler
	// Peer names the other side for the peer label.
	Peer func(r *http.Request) string
	// Metrics, Tracer and AccessLog are optional.
	Metrics   *Metrics
	Tracer    *Tracer
	AccessLog *slog.Logger
}

// ServeHTTP is the request pipeline: trace context, the handler, then the
// records of what happened.
func (h *HTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	parent, hasParent := propagation.Extract(r.Header)
	// Handlers must not modify the server's request; the clone is ours to
	// change (trace headers here, Authorization in the outbound handler).
	out := r.Clone(r.Context())
	var span Span
	traced := hasParent
	switch {
	case h.Inbound || (hasParent && h.Tracer.Enabled()):
		span = h.Tracer.Start(r.Context(), h.Direction+" "+r.Method, h.Inbound, parent, hasParent,
			attribute.String("http.request.method", r.Method), attribute.String("server.address", r.Host))
		propagation.Inject(out.Header, span.Context)
		traced = true
	case hasParent:
		span.Context = parent
	}
	ctx := r.Context()
	if traced {
		ctx = propagation.WithTrace(ctx, span.Context)
	}
	var timing forward.Timing
	ctx = forward.WithTiming(ctx, &timing)
	body := &countingBody{ReadCloser: out.Body}
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = body
	}
	rec := &recorder{ResponseWriter: w}

	h.Next.ServeHTTP(rec, out.WithContext(ctx))

	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	total := time.Since(start)
	span.End(status)
	peer := r.Host
	if h.Peer != nil {
		peer = h.Peer(r)
	}
	if h.Metrics != nil {
		h.Metrics.ObserveRequest(h.Direction, r.Method, status, peer, total)
	}
	if h.AccessLog != nil {
		attrs := []slog.Attr{
			slog.String("direction", h.Direction),
			slog.String("method", r.Method),
			slog.String("authority", r.Host),
			// The path only: query strings may carry secrets.
			slog.String("path", r.URL.Path),
			slog.String("protocol", r.Proto),
			slog.Int("status", status),
			slog.Int64("bytes_received", body.n.Load()),
			slog.Int64("bytes_sent", rec.bytes),
			slog.Float64("duration_ms", ms(total)),
			slog.Float64("upstream_duration_ms", ms(time.Duration(timing.Upstream.Load()))),
			slog.String("peer", peer),
		}
		if traced {
			attrs = append(attrs, slog.String("trace_id", span.Context.TraceID.String()))
		}
		h.AccessLog.LogAttrs(context.Background(), slog.LevelInfo, "request", attrs...)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// recorder notes the status and body size of a response. Unwrap lets
// http.ResponseController reach Flush and Hijack of the real writer, so
// streaming and upgrades work through it.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	// 1xx responses are informational; the final status comes later.
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// countingBody counts the request body bytes as they stream through.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
