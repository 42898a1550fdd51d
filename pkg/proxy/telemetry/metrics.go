// Package telemetry owns what the proxy tells about the traffic it
// carries: Prometheus metrics, the access log (one structured line per
// request) and tracing (spans exported over OTLP when enabled), and the
// HTTP middleware that records all three around each request.
package telemetry

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MaxPeers bounds the peer label: the first MaxPeers distinct peers keep
// their name, later ones are counted as "other", so a pod that talks to
// many addresses cannot grow the metrics without limit.
const MaxPeers = 100

// OtherPeer is the peer label once MaxPeers is reached.
const OtherPeer = "other"

// MetricRequestsTotal is the name of the counter of HTTP requests, by
// direction, method, status_class and peer: what dashboards and tests
// read.
const MetricRequestsTotal = "mesh_proxy_requests_total"

// Metrics are the proxy's Prometheus metrics. Labels are bounded: direction
// (inbound/outbound), method (known methods, else OTHER), status class
// (2xx...), and peer (capped by MaxPeers). Raw paths are never labels.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	tcpOpened *prometheus.CounterVec
	tcpActive *prometheus.GaugeVec
	tcpBytes  *prometheus.CounterVec

	mu    sync.Mutex
	peers map[string]struct{}
	// series caches the counter and histogram of each label tuple, so a
	// request costs a map lookup rather than hashing label values twice.
	series sync.Map // requestKey -> requestSeries
}

type requestKey struct{ direction, method, class, peer string }

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRequestsTotal,
			Help: "HTTP requests handled by the proxy.",
		}, []string{"direction", "method", "status_class", "peer"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mesh_proxy_request_duration_seconds",
			Help: "Time from receiving an HTTP request to the end of its response.",
			// From 100µs: the proxy's own share is sub-millisecond.
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"direction", "method", "status_class", "peer"}),
		tcpOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_proxy_tcp_connections_total",
			Help: "Opaque TCP connections proxied.",
		}, []string{"direction", "peer"}),
		tcpActive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mesh_proxy_tcp_connections_active",
			Help: "Opaque TCP connections open now.",
		}, []string{"direction", "peer"}),
		tcpBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mesh_proxy_tcp_bytes_total",
			Help: "Bytes of opaque TCP connections, by flow: sent upstream or received from upstream.",
		}, []string{"direction", "peer", "flow"}),
		peers: map[string]struct{}{},
	}
	reg.MustRegister(m.requests, m.duration, m.tcpOpened, m.tcpActive, m.tcpBytes)
	return m
}

// peer returns p if it is (or can become) one of the MaxPeers named peers.
func (m *Metrics) peer(p string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.peers[p]; ok {
		return p
	}
	if len(m.peers) >= MaxPeers {
		return OtherPeer
	}
	m.peers[p] = struct{}{}
	return p
}

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(direction, method string, status int, peer string, d time.Duration) {
	k := requestKey{direction, Method(method), StatusClass(status), m.peer(peer)}
	s, ok := m.series.Load(k)
	if !ok {
		s, _ = m.series.LoadOrStore(k, requestSeries{
			count:    m.requests.WithLabelValues(k.direction, k.method, k.class, k.peer),
			duration: m.duration.WithLabelValues(k.direction, k.method, k.class, k.peer),
		})
	}
	rs := s.(requestSeries)
	rs.count.Inc()
	rs.duration.Observe(d.Seconds())
}

// TCPOpened records a new opaque TCP connection.
func (m *Metrics) TCPOpened(direction, peer string) {
	peer = m.peer(peer)
	m.tcpOpened.WithLabelValues(direction, peer).Inc()
	m.tcpActive.WithLabelValues(direction, peer).Inc()
}

// TCPClosed records the end of an opaque TCP connection and its bytes.
func (m *Metrics) TCPClosed(direction, peer string, sent, received int64) {
	peer = m.peer(peer)
	m.tcpActive.WithLabelValues(direction, peer).Dec()
	m.tcpBytes.WithLabelValues(direction, peer, "sent").Add(float64(sent))
	m.tcpBytes.WithLabelValues(direction, peer, "received").Add(float64(received))
}

// Method bounds the method label to the standard methods.
func Method(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// StatusClass is "2xx" for 200-299 and so on; "0xx" for no status.
func StatusClass(code int) string {
	if code < 100 || code > 599 {
		return "0xx"
	}
	return strconv.Itoa(code/100) + "xx"
}
