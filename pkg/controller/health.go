package controller

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshctl/meshctl/pkg/controller/ca"
	ctrlchannel "github.com/meshctl/meshctl/pkg/controller/channel"
	"github.com/meshctl/meshctl/pkg/version"
)

// MetricLeader is 1 while this replica leads (does what must happen once:
// the caBundle, the serving certificate's Secret, the trust bundle's
// copies) and 0 otherwise.
const MetricLeader = "meshctl_controller_leader"

// MetricBuildInfo is the controller's build, as a gauge of 1 labelled with
// version, commit and go_version. It follows the prefix of the
// controller's other metrics.
const MetricBuildInfo = "meshctl_controller_build_info"

// Metrics are the controller's Prometheus metrics. They live in a registry
// of their own, not the global one, so tests and replicas of the struct never
// collide.
type Metrics struct {
	// Registry holds the metrics below and the Go runtime's.
	Registry *prometheus.Registry
	// CA are the mesh CA's series, in Registry.
	CA *ca.Metrics
	// Channel are the channel server's series, in Registry.
	Channel    *ctrlchannel.Metrics
	admissions *prometheus.CounterVec
	latency    prometheus.Histogram
	leader     prometheus.Gauge
}

// NewMetrics registers the admission metrics, every result at zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshctl_controller_admissions_total",
			Help: "Pod admission requests answered by the sidecar injector, by result.",
		}, []string{"result"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshctl_controller_admission_duration_seconds",
			Help:    "Time to answer one admission request, from request read to response written.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricLeader,
			Help: "1 while this replica is the leader, which patches the caBundle, keeps the serving certificate's Secret and copies the trust bundle; 0 otherwise.",
		}),
	}
	for _, r := range Results() {
		m.admissions.WithLabelValues(string(r))
	}
	// An info metric: queries join it to any series to learn the build.
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricBuildInfo,
		Help: "A metric with a constant '1' value labeled by the version, commit and Go version mesh-controller was built from.",
	}, []string{"version", "commit", "go_version"})
	v := version.Get()
	build.WithLabelValues(v.Version, v.Commit, v.GoVersion).Set(1)
	m.Registry.MustRegister(m.admissions, m.latency, m.leader, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.CA = ca.NewMetrics(m.Registry)
	m.Channel = ctrlchannel.NewMetrics(m.Registry)
	return m
}

// observe counts one admission; a nil m counts nothing, so handlers in unit
// tests need no registry.
func (m *Metrics) observe(r Result, d time.Duration) {
	if m == nil {
		return
	}
	m.admissions.WithLabelValues(string(r)).Inc()
	if d > 0 {
		m.latency.Observe(d.Seconds())
	}
}

// setLeader records whether this replica leads; a nil m records nothing.
func (m *Metrics) setLeader(leading bool) {
	if m == nil {
		return
	}
	if leading {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// Readiness tracks the conditions /readyz waits for. Each is named, so a
// failing probe says what is missing. A condition may also carry a
// warning: met, but degraded (the CA signing with its last good issuer
// while the Secret's new content is refused). Warnings are listed by
// /readyz but do not fail it: every replica sees the same bad Secret, and
// failing them all would stop the signing that still works.
type Readiness struct {
	mu       sync.Mutex
	pending  map[string]string // condition -> why it is not met
	warnings map[string]string // condition -> what is wrong while it is met
}

// NewReadiness starts with every condition unmet.
func NewReadiness(conditions ...string) *Readiness {
	r := &Readiness{pending: map[string]string{}, warnings: map[string]string{}}
	for _, c := range conditions {
		r.pending[c] = "not yet"
	}
	return r
}

// Set marks condition met (err nil) or unmet for the reason err gives.
func (r *Readiness) Set(condition string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.pending, condition)
		return
	}
	r.pending[condition] = err.Error()
}

// Warn records a warning on condition (err not nil) or clears it.
func (r *Readiness) Warn(condition string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.warnings, condition)
		return
	}
	r.warnings[condition] = err.Error()
}

// Warnings are the warnings, one "condition: what" each, sorted.
func (r *Readiness) Warnings() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for c, why := range r.warnings {
		out = append(out, c+": "+why)
	}
	slices.Sort(out)
	return out
}

// Err is nil when every condition is met, or names those that are not.
func (r *Readiness) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return nil
	}
	var parts []string
	for c, why := range r.pending {
		parts = append(parts, c+": "+why)
	}
	slices.Sort(parts)
	return fmt.Errorf("not ready: %s", strings.Join(parts, "; "))
}

// The readiness conditions of Run.
const (
	ReadyCertificate = "certificate"
	ReadyCABundle    = "caBundle"
	ReadyMeshConfig  = "meshconfig"
	ReadyNamespaces  = "namespaces"
	// ReadyIssuer: the mesh CA has an issuer that chains to an anchor of
	// its trust bundle, and its own certificate on the proxy API port.
	ReadyIssuer = "issuer"
	// ReadyShutdown is unmet once the process is stopping: the endpoints
	// drop the replica while it still serves (Options.ShutdownDelay).
	ReadyShutdown = "shutdown"
)

// HealthHandler serves /healthz (the process answers), /readyz (every
// readiness condition met; "ok", then a "warning: " line per warning) and
// /metrics.
func HealthHandler(ready *Readiness, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
		for _, warning := range ready.Warnings() {
			_, _ = fmt.Fprintln(w, "warning: "+warning)
		}
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	return mux
}
