package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/proxy/forward"
	"github.com/meshctl/meshctl/pkg/proxy/h1"
	"github.com/meshctl/meshctl/pkg/proxy/propagation"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
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
	// Peer names the other side for the peer label, and says whether the
	// request came (or goes) over mutual TLS between proxies; the Host and
	// false when nil.
	Peer func(r *http.Request) (peer string, mtls bool)
	// Metrics, Tracer and AccessLog are optional.
	Metrics   *Metrics
	Tracer    *Tracer
	AccessLog *AccessLog
	// Tap, when not nil, gets every request while somebody listens.
	Tap *tap.Tap

	// H1 handles requests of the lean HTTP/1.1 path after ServeH1's
	// tracing; nil hands them all to ServeHTTP. PeerH1 is Peer for them;
	// when nil, the exchange's PeerName (else its Host) and MTLS.
	H1     h1.Handler
	PeerH1 func(x *h1.Exchange) (peer string, mtls bool)
	// Log receives upstream failures of the lean path; slog's default
	// logger when nil.
	Log *slog.Logger
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
		span = h.startSpan(r.Method, r.Host, parent, hasParent)
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
	peer, mtls := r.Host, false
	if h.Peer != nil {
		peer, mtls = h.Peer(r)
	}
	h.record(span, traced, status, record{
		method: r.Method, authority: r.Host, path: r.URL.Path, protocol: r.Proto, peer: peer, mtls: mtls,
		received: body.n.Load(), sent: rec.bytes, start: start, total: time.Since(start), upstream: time.Duration(timing.Upstream.Load()),
		req: r,
	})
}

// ServeH1 is ServeHTTP for the lean HTTP/1.1 path: the same trace
// context, records and (through H1) the same direction's steps. A request
// H1 hands off is left untouched for ServeHTTP.
func (h *HTTP) ServeH1(x *h1.Exchange) error {
	if h.H1 == nil {
		return h1.ErrHandoff
	}
	start := time.Now()
	parent, hasParent := propagation.Extract(&x.Header)
	var span Span
	x.Traced = hasParent
	switch {
	case h.Inbound || (hasParent && h.Tracer.Enabled()):
		span = h.startSpan(x.Method, x.Host, parent, hasParent)
		propagation.Inject(&x.Header, span.Context)
		x.Traced = true
	case hasParent:
		span.Context = parent
	}
	x.Trace = span.Context
	err := h.H1.ServeH1(x)
	if errors.Is(err, h1.ErrHandoff) {
		// ServeHTTP starts its own span; this one is dropped unended.
		return err
	}
	if err != nil && !x.Started {
		h.log().Warn("upstream request failed", "method", x.Method, "authority", x.Host, "error", err)
		// The request is committed but its body may be unread: only
		// closing the connection keeps it from being parsed as the next
		// request. A caller of an app that is gone reconnects, too.
		x.Close = true
		x.WriteBadGateway()
		err = nil
	}
	peer, mtls := x.PeerName, x.MTLS
	switch {
	case h.PeerH1 != nil:
		peer, mtls = h.PeerH1(x)
	case peer == "":
		peer = x.Host
	}
	h.record(span, x.Traced, x.Status, record{
		method: x.Method, authority: x.Host, path: x.Path(), protocol: "HTTP/1.1", peer: peer, mtls: mtls,
		received: x.ContentLength, sent: x.BytesSent, start: start, total: time.Since(start), upstream: x.Upstream,
		peerID: x.Peer,
	})
	return err
}

func (h *HTTP) log() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}

// startSpan starts the proxy's span of a request; the attributes are only
// built when spans are exported.
func (h *HTTP) startSpan(method, host string, parent propagation.TraceContext, hasParent bool) Span {
	if !h.Tracer.Enabled() {
		return h.Tracer.Start(context.Background(), "", h.Inbound, parent, hasParent)
	}
	return h.Tracer.Start(context.Background(), h.Direction+" "+method, h.Inbound, parent, hasParent,
		attribute.String("http.request.method", method), attribute.String("server.address", host))
}

// record is what the access log, metrics and tap say about a request.
type record struct {
	method, authority, path, protocol, peer string
	mtls                                    bool
	received, sent                          int64
	start                                   time.Time
	total, upstream                         time.Duration
	// peerID is the lean path's mesh TLS peer; req is net/http's
	// request, whose context holds it. The tap alone reads them.
	peerID identity.ID
	req    *http.Request
}

func (h *HTTP) record(span Span, traced bool, status int, r record) {
	span.End(status)
	if h.Metrics != nil {
		h.Metrics.ObserveRequest(h.Direction, r.method, status, r.peer, r.mtls, r.total)
	}
	if h.AccessLog != nil {
		h.AccessLog.write(h.Direction, status, r, traced, span.Context.TraceID)
	}
	if h.Tap.Listening() {
		h.publish(status, &r)
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
