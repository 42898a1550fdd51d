// Package forward owns the HTTP forwarding step of the proxy: a streaming
// reverse proxy to the connection's destination over pooled upstream
// connections, HTTP/1.1 or h2c to match the downstream request. Timings of
// the upstream exchange are recorded for the access log.
package forward

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Pool limits of upstream connections. An app talks to a handful of
// destinations, so a small idle pool per destination keeps latency low
// without holding sockets for long.
const (
	MaxIdleConnsPerHost = 64
	MaxIdleConns        = 512
	IdleConnTimeout     = 90 * time.Second
)

// Forwarder proxies a request to where its connection was going.
type Forwarder struct {
	// Destination returns the address to send r to.
	Destination func(r *http.Request) (netip.AddrPort, bool)
	// Dial connects upstream; net.Dialer.DialContext when nil.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Log receives upstream errors; slog.Default() when nil.
	Log *slog.Logger

	proxy *httputil.ReverseProxy
	pool  *h1Pool
}

// Close closes idle upstream connections and stops their sweeper; the
// Forwarder must not be used afterwards.
func (f *Forwarder) Close() { f.pool.Close() }

// New builds a Forwarder; f's hooks are kept.
func New(f Forwarder) *Forwarder {
	if f.Dial == nil {
		f.Dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	if f.Log == nil {
		f.Log = slog.Default()
	}
	h1 := &http.Transport{
		DialContext:         f.Dial,
		MaxIdleConns:        MaxIdleConns,
		MaxIdleConnsPerHost: MaxIdleConnsPerHost,
		IdleConnTimeout:     IdleConnTimeout,
		// The app's own compression choices pass through untouched.
		DisableCompression: true,
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2c := &http.Transport{
		DialContext:        f.Dial,
		Protocols:          &p,
		MaxIdleConns:       MaxIdleConns,
		IdleConnTimeout:    IdleConnTimeout,
		DisableCompression: true,
	}
	out := &f
	out.pool = &h1Pool{dial: f.Dial, maxIdle: MaxIdleConnsPerHost, idleTimeout: IdleConnTimeout, fallback: h1, stop: make(chan struct{})}
	go out.pool.sweep(IdleConnTimeout / 3)
	out.proxy = &httputil.ReverseProxy{
		Rewrite:   out.rewrite,
		Transport: timedTransport{h1: out.pool, h2c: h2c},
		// Zero batches the writes of a response with a known length into
		// few syscalls; responses without one (gRPC, chunked streams) and
		// event streams are still flushed on every write by ReverseProxy.
		FlushInterval: 0,
		ErrorHandler:  out.upstreamError,
		BufferPool:    &bufferPool{},
		ErrorLog:      slog.NewLogLogger(f.Log.Handler(), slog.LevelDebug),
	}
	return out
}

// rewrite points the outgoing request at the destination. The Host header
// and everything else the client sent stay as they were: the proxy is
// transparent, so no X-Forwarded-* headers are added.
func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	dst, _ := f.Destination(pr.In)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = dst.String()
	pr.Out.Host = pr.In.Host
}

func (f *Forwarder) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		// The client left; there is nobody to answer.
		return
	}
	f.Log.Warn("upstream request failed", "method", r.Method, "authority", r.Host, "error", err)
	w.WriteHeader(http.StatusBadGateway)
}

// ServeHTTP forwards r, streaming both bodies.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := f.Destination(r); !ok {
		http.Error(w, "mesh-proxy: no destination for this request", http.StatusBadGateway)
		return
	}
	if r.ProtoMajor == 1 {
		// By default an HTTP/1 server stops reading the request body once
		// the response starts; a proxy must keep streaming both ways, as
		// the app may answer before the upload has ended.
		_ = http.NewResponseController(w).EnableFullDuplex()
	}
	f.proxy.ServeHTTP(w, r)
}

// Timing is filled in by the transport for the access log; attach one
// with WithTiming before forwarding.
type Timing struct {
	// Upstream is the time from sending the request to the response
	// headers, in nanoseconds.
	Upstream atomic.Int64
}

type timingKey struct{}

// WithTiming returns ctx carrying t.
func WithTiming(ctx context.Context, t *Timing) context.Context {
	return context.WithValue(ctx, timingKey{}, t)
}

// timedTransport picks the upstream protocol to match the downstream one
// and records the upstream time.
type timedTransport struct{ h1, h2c http.RoundTripper }

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt := t.h1
	if r.ProtoMajor == 2 {
		rt = t.h2c
	}
	start := time.Now()
	resp, err := rt.RoundTrip(r)
	if tm, ok := r.Context().Value(timingKey{}).(*Timing); ok {
		tm.Upstream.Store(int64(time.Since(start)))
	}
	return resp, err
}

// bufferPool recycles ReverseProxy's copy buffers, which it would
// otherwise allocate (32 KiB, zeroed) for every request.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
