package channel

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the channel's Prometheus metrics, registered on the
// controller's registry (pkg/controller's Metrics.Registry).
type Metrics struct {
	proxies       prometheus.Gauge
	streams       *prometheus.CounterVec
	builds        *prometheus.CounterVec
	buildDuration prometheus.Histogram
	bytes         prometheus.Gauge
	generated     prometheus.Gauge
	entries       *prometheus.GaugeVec
	info          *prometheus.GaugeVec
	sends         *prometheus.CounterVec
}

// The label values of the channel's metrics.
const (
	streamAccepted        = "accepted"
	streamUnauthenticated = "unauthenticated"
	streamRefused         = "refused"
	streamUnavailable     = "unavailable"

	buildChanged   = "changed"
	buildUnchanged = "unchanged"
	buildError     = "error"

	sendOK    = "ok"
	sendError = "error"
)

// NewMetrics registers the channel's metrics on reg, every label value at
// zero.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		proxies: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshctl_controller_channel_proxies",
			Help: "Proxies connected to this replica's channel now.",
		}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshctl_controller_channel_streams_total",
			Help: "Channel requests, by result: accepted, unauthenticated (no client certificate), refused (a certificate that is not a valid mesh identity), unavailable (no snapshot built yet).",
		}, []string{"result"}),
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshctl_controller_channel_snapshot_builds_total",
			Help: "Snapshot builds, by result: changed (a new version was published), unchanged, error.",
		}, []string{"result"}),
		buildDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshctl_controller_channel_snapshot_build_duration_seconds",
			Help:    "Time to build and encode one snapshot.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshctl_controller_channel_snapshot_bytes",
			Help: "Size of the current snapshot message.",
		}),
		generated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshctl_controller_channel_snapshot_generated_timestamp_seconds",
			Help: "When the current snapshot was built, in seconds since the Unix epoch.",
		}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshctl_controller_channel_snapshot_entries",
			Help: "Entries of the current snapshot, by kind: pods (meshed) and services.",
		}, []string{"kind"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshctl_controller_channel_snapshot_info",
			Help: "A metric with a constant '1' value labeled by the current snapshot's version (hash prefix); replicas that agree show the same.",
		}, []string{"version"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshctl_controller_channel_sends_total",
			Help: "Messages written to proxies, by type (snapshot, heartbeat) and result (ok, error).",
		}, []string{"type", "result"}),
	}
	for _, r := range []string{streamAccepted, streamUnauthenticated, streamRefused, streamUnavailable} {
		m.streams.WithLabelValues(r)
	}
	for _, r := range []string{buildChanged, buildUnchanged, buildError} {
		m.builds.WithLabelValues(r)
	}
	for _, t := range []string{"snapshot", "heartbeat"} {
		for _, r := range []string{sendOK, sendError} {
			m.sends.WithLabelValues(t, r)
		}
	}
	reg.MustRegister(m.proxies, m.streams, m.builds, m.buildDuration, m.bytes, m.generated, m.entries, m.info, m.sends)
	return m
}
