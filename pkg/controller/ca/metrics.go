package ca

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the CA's Prometheus series. Expiry is exported as
// timestamps, as cert-manager's certmanager_certificate_expiration_timestamp_seconds
// is, so an alert is one expression (`... - time() < 30*86400`) and no
// series needs updating as time passes.
type Metrics struct {
	issuerExpiry  prometheus.Gauge
	anchorExpiry  *prometheus.GaugeVec
	issuerReady   prometheus.Gauge
	issuerRefused prometheus.Gauge
	bundleRefused prometheus.Gauge
	copyErrors    prometheus.Counter
	certExpiry    prometheus.Gauge
}

// The names of the series, for docs/configuration.md and tests.
const (
	MetricIssuerExpiration      = "meshctl_controller_issuer_expiration_timestamp_seconds"
	MetricAnchorExpiration      = "meshctl_controller_trust_anchor_expiration_timestamp_seconds"
	MetricIssuerReady           = "meshctl_controller_issuer_ready"
	MetricIssuerSecretRefused   = "meshctl_controller_issuer_secret_refused"
	MetricTrustBundleRefused    = "meshctl_controller_trust_bundle_refused"
	MetricTrustBundleCopyErrors = "meshctl_controller_trust_bundle_copy_errors_total"
	MetricCertificateExpiration = "meshctl_controller_certificate_expiration_timestamp_seconds"
)

// NewMetrics registers the CA's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		issuerExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricIssuerExpiration,
			Help: "When the issuer in use stops issuing (Unix seconds): the earliest NotAfter of its chain to the trust anchor; 0 while there is none.",
		}),
		anchorExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricAnchorExpiration,
			Help: "NotAfter (Unix seconds) of each trust anchor of the bundle in use, by the anchor's serial number.",
		}, []string{"serial"}),
		issuerReady: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricIssuerReady,
			Help: "1 while the controller signs with an issuer that chains to an anchor of the trust bundle, 0 otherwise.",
		}),
		issuerRefused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricIssuerSecretRefused,
			Help: "1 while the issuer Secret's current content is refused (missing, malformed, expired); the controller keeps the last good issuer, if any.",
		}),
		bundleRefused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricTrustBundleRefused,
			Help: "1 while the trust bundle ConfigMap's current content is refused; the controller keeps the last good bundle, if any.",
		}),
		copyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: MetricTrustBundleCopyErrors,
			Help: "Failures to create or update the trust bundle's copy in an enrolled namespace (each is retried).",
		}),
		certExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricCertificateExpiration,
			Help: "NotAfter (Unix seconds) of the controller's own certificate on the proxy API port; 0 while there is none.",
		}),
	}
	reg.MustRegister(m.issuerExpiry, m.anchorExpiry, m.issuerReady, m.issuerRefused, m.bundleRefused, m.copyErrors, m.certExpiry)
	return m
}
