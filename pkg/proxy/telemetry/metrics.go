// Package telemetry owns what the proxy tells about the traffic it
// carries: Prometheus metrics, the access log (one structured line per
// request) and tracing (spans exported over OTLP when enabled), and the
// HTTP middleware that records all three around each request.
package telemetry

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// MaxPeers bounds the peer label: the first MaxPeers distinct peers keep
// their name, later ones are counted as "other", so a pod that talks to
// many addresses cannot grow the metrics without limit.
const MaxPeers = 100

// OtherPeer is the peer label once MaxPeers is reached.
const OtherPeer = "other"

// Names of the proxy's own metrics, as wire owns them (the proxy's
// contract with meshctl and dashboards).
const (
	MetricRequestsTotal     = wire.MetricRequestsTotal
	MetricRequestDuration   = wire.MetricRequestDuration
	MetricTCPOpened         = wire.MetricTCPOpened
	MetricTCPActive         = wire.MetricTCPActive
	MetricTCPBytes          = wire.MetricTCPBytes
	MetricHandshakes        = wire.MetricHandshakes
	MetricHandshakeDuration = wire.MetricHandshakeDuration
	MetricDenied            = wire.MetricDenied
	MetricBuildInfo         = wire.MetricBuildInfo
)

// durationBuckets are the upper bounds of the request duration histogram,
// from 100µs: the proxy's own share is sub-millisecond. Read only.
var durationBuckets = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Metrics are the proxy's Prometheus metrics. Labels are bounded: direction
// (inbound/outbound), method (known methods, else OTHER), status class
// (2xx...), peer (capped by MaxPeers), tls (true/false: over mutual TLS
// between proxies) and a handshake's result (a closed set, see
// meshtls). Raw paths are never labels.
//
// They are kept here rather than in the Prometheus client library: the
// proxy needs two counters, a gauge and a histogram, and the library, with
// the protobuf runtime it links, made up 3 MB of every sidecar's resident
// memory. WriteTo writes the text exposition format Prometheus scrapes.
type Metrics struct {
	start time.Time
	// workload is the constant labels of every traffic series, rendered
	// and escaped once (workloadLabels): a request costs nothing more for
	// them, a scrape a copy per series.
	workload string
	// bounds are durationBuckets as le values, formatted once rather
	// than for every bucket of every series of every scrape.
	bounds [len(durationBuckets)]string

	mu       sync.Mutex
	peers    map[string]struct{}
	requests map[requestKey]*requestSeries
	tcp      map[tcpKey]*tcpSeries
	tls      map[handshakeKey]*requestSeries
	denied   map[deniedKey]*atomic.Uint64
}

type deniedKey struct{ direction, protocol, peer, reason string }

type requestKey struct {
	direction, method, class, peer string
	mtls                           bool
}

type handshakeKey struct{ direction, result string }

// requestSeries is one label tuple's counter and histogram; the counts
// per bucket are not cumulative until they are written.
type requestSeries struct {
	count   atomic.Uint64
	sum     atomic.Int64 // nanoseconds
	buckets [len(durationBuckets)]atomic.Uint64
}

type tcpKey struct {
	direction, peer string
	mtls            bool
}

type tcpSeries struct {
	opened         atomic.Uint64
	active         atomic.Int64
	sent, received atomic.Uint64
}

// Workload is the proxy's own workload, which every request, TCP,
// handshake and denial series names in its labels workload_namespace,
// workload_kind and workload_name, so that series of the pods of one
// Deployment add up. The names are not prefixed "namespace" and "pod":
// Prometheus's PodMonitor adds target labels of those names, and would
// rename clashing ones exported_*. Empty fields are left out, as
// Prometheus reads an empty label anyway.
type Workload struct {
	Namespace, Kind, Name string
}

// maxWorkloadValue bounds each workload label's value, as Kubernetes
// bounds a name (a DNS-1123 subdomain). mesh-proxy checks its flags
// (wire.Workload.Check); this bound is for whatever else builds Metrics.
const maxWorkloadValue = 253

// NewMetrics returns empty metrics that name no workload, started now
// (process_start_time_seconds).
func NewMetrics() *Metrics { return NewMetricsFor(Workload{}) }

// NewMetricsFor returns empty metrics whose traffic series name w.
func NewMetricsFor(w Workload) *Metrics {
	m := &Metrics{
		start:    time.Now(),
		workload: workloadLabels(w),
		peers:    map[string]struct{}{},
		requests: map[requestKey]*requestSeries{},
		tcp:      map[tcpKey]*tcpSeries{},
		tls:      map[handshakeKey]*requestSeries{},
		denied:   map[deniedKey]*atomic.Uint64{},
	}
	for i, le := range durationBuckets {
		m.bounds[i] = string(formatFloat(nil, le.Seconds()))
	}
	return m
}

// workloadLabels renders w's labels as sample writes them, in name order
// (kind, name, namespace) and escaped; values are made valid UTF-8, which
// Prometheus's parser requires of a label value, and bounded.
func workloadLabels(w Workload) string {
	var b bytes.Buffer
	for _, l := range [...][2]string{{"workload_kind", w.Kind}, {"workload_name", w.Name}, {"workload_namespace", w.Namespace}} {
		v := strings.ToValidUTF8(l[1], "\uFFFD")
		if len(v) > maxWorkloadValue {
			v = strings.ToValidUTF8(v[:maxWorkloadValue], "")
		}
		if v == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		label(&b, l[0], v)
	}
	return b.String()
}

// peerLocked returns p if it is (or can become) one of the MaxPeers named
// peers; m.mu is held.
func (m *Metrics) peerLocked(p string) string {
	if _, ok := m.peers[p]; ok {
		return p
	}
	if len(m.peers) >= MaxPeers {
		return OtherPeer
	}
	// p may be a slice of a request head: the set keeps a copy.
	p = strings.Clone(p)
	m.peers[p] = struct{}{}
	return p
}

// ObserveRequest records one HTTP request; mtls says it came or went over
// mutual TLS between proxies.
func (m *Metrics) ObserveRequest(direction, method string, status int, peer string, mtls bool, d time.Duration) {
	k := requestKey{direction, Method(method), StatusClass(status), peer, mtls}
	m.mu.Lock()
	k.peer = m.peerLocked(peer)
	s := m.requests[k]
	if s == nil {
		// The caller's peer may be a slice of a request head: the new
		// series keeps a copy.
		k.peer = strings.Clone(k.peer)
		s = &requestSeries{}
		m.requests[k] = s
	}
	m.mu.Unlock()
	s.observe(d)
}

func (s *requestSeries) observe(d time.Duration) {
	s.count.Add(1)
	s.sum.Add(int64(d))
	for i, le := range durationBuckets {
		if d <= le {
			s.buckets[i].Add(1)
			break
		}
	}
}

// Handshake records one mutual TLS handshake between proxies: direction
// is inbound (this proxy served it) or outbound; result is "ok" or the
// bounded reason it failed.
func (m *Metrics) Handshake(direction, result string, d time.Duration) {
	k := handshakeKey{direction, result}
	m.mu.Lock()
	s := m.tls[k]
	if s == nil {
		s = &requestSeries{}
		m.tls[k] = s
	}
	m.mu.Unlock()
	s.observe(d)
}

// tcpSeriesOf returns the series of direction, peer and mtls, made if new.
func (m *Metrics) tcpSeriesOf(direction, peer string, mtls bool) *tcpSeries {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := tcpKey{direction, m.peerLocked(peer), mtls}
	s := m.tcp[k]
	if s == nil {
		k.peer = strings.Clone(k.peer)
		s = &tcpSeries{}
		m.tcp[k] = s
	}
	return s
}

// Denied records a request or connection the mesh refused: inbound by its
// policy, outbound because egress is off. protocol is "http" or "tcp",
// peer the caller's ns/sa (inbound; "" for plain text) or the destination
// (outbound), reason the policy's.
func (m *Metrics) Denied(direction, protocol, peer string, reason policy.Reason) {
	m.mu.Lock()
	k := deniedKey{direction, protocol, peer, string(reason)}
	if peer != "" {
		k.peer = m.peerLocked(peer)
	}
	c := m.denied[k]
	if c == nil {
		c = &atomic.Uint64{}
		m.denied[k] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

// TCPOpened records a new opaque TCP connection.
func (m *Metrics) TCPOpened(direction, peer string, mtls bool) {
	s := m.tcpSeriesOf(direction, peer, mtls)
	s.opened.Add(1)
	s.active.Add(1)
}

// TCPClosed records the end of an opaque TCP connection and its bytes.
func (m *Metrics) TCPClosed(direction, peer string, mtls bool, sent, received int64) {
	s := m.tcpSeriesOf(direction, peer, mtls)
	s.active.Add(-1)
	s.sent.Add(uint64(max(sent, 0)))
	s.received.Add(uint64(max(received, 0)))
}

// Method bounds the method label to the standard methods. It returns
// constants, never m itself, which may be a slice of a request head.
func Method(m string) string {
	for _, known := range [...]string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace} {
		if m == known {
			return known
		}
	}
	return "OTHER"
}

// StatusClass is "2xx" for 200-299 and so on; "0xx" for no status.
func StatusClass(code int) string {
	const classes = "0xx1xx2xx3xx4xx5xx"
	if code < 100 || code > 599 {
		return classes[:3]
	}
	i := code / 100 * 3
	return classes[i : i+3]
}
