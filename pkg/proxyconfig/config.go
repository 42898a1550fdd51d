package proxyconfig

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// Config is the sidecar of one workload: everything the injector writes into
// the pod and mesh-proxy reads back. Build it with New (mesh-wide) and
// ForWorkload (plus a workload's annotations); the zero value is not useful.
type Config struct {
	// Image is the one image of both the init and the proxy container.
	Image string
	// LogLevel is the proxy's log level.
	LogLevel wire.LogLevel
	// LogLevelPinned says LogLevel came from the workload's annotation
	// and stays when the MeshConfig's level changes.
	LogLevelPinned bool
	// Resources are the proxy container's requests and limits.
	Resources corev1.ResourceRequirements
	// SkipInboundPorts are ports whose inbound traffic is not intercepted;
	// sorted, without duplicates.
	SkipInboundPorts []int32
	// SkipOutboundPorts are destination ports whose outbound traffic is not
	// intercepted; sorted, without duplicates.
	SkipOutboundPorts []int32
	// SkipOutboundCIDRs are destination ranges whose outbound traffic is not
	// intercepted; sorted, without duplicates, each masked to its prefix.
	SkipOutboundCIDRs []netip.Prefix
	// Metrics turns the proxy's /metrics endpoint on.
	Metrics bool
	// AnnotatePrometheus, with Metrics, has the injector annotate pods
	// for Prometheus (PrometheusAnnotations).
	AnnotatePrometheus bool
	// Tracing, when not nil, exports spans.
	Tracing *wire.Tracing
	// JWT, when not nil, validates bearer tokens on inbound requests. Its
	// ExemptProbes are per pod: New leaves them empty, and
	// WithExemptProbes sets them from the pod's own httpGet probes
	// (HTTPProbesOf).
	JWT *wire.JWT
	// Identity, when not nil, is how the proxy gets its certificate and
	// the channel (WithIdentity); the pod then needs IdentityVolume.
	Identity *wire.Identity
	// Workload, when not nil, is the object that runs the pod, which the
	// proxy's metrics name (WithWorkload). New leaves it nil: it is per
	// pod, like JWT's ExemptProbes.
	Workload *wire.Workload
}

// New builds the mesh-wide sidecar definition from a MeshConfig spec. An
// empty image, log level or resources mean this build's defaults
// (DefaultImage, wire.DefaultLogLevel, DefaultResources). Values the CRD schema
// would reject are errors naming the field.
func New(spec meshconfig.MeshConfigSpec) (*Config, error) {
	c := &Config{
		Image:     cmp.Or(spec.Sidecar.Image, DefaultImage()),
		LogLevel:  wire.DefaultLogLevel,
		Resources: *spec.Sidecar.Resources.DeepCopy(),
		Metrics:   spec.Observability.Metrics.Enable,
		// Annotations that point Prometheus at an endpoint that is off
		// would fail every scrape.
		AnnotatePrometheus: spec.Observability.Metrics.Enable && spec.Observability.Metrics.PrometheusAnnotations,
	}
	if spec.Sidecar.LogLevel != "" {
		l, err := wire.ParseLogLevel(spec.Sidecar.LogLevel)
		if err != nil {
			return nil, fmt.Errorf("spec.sidecar.logLevel: %w", err)
		}
		c.LogLevel = l
	}
	if len(c.Resources.Limits) == 0 && len(c.Resources.Requests) == 0 && len(c.Resources.Claims) == 0 {
		c.Resources = DefaultResources()
	}
	var err error
	if c.SkipInboundPorts, err = mergePorts(nil, spec.Traffic.InboundPortExclusionList, "spec.traffic.inboundPortExclusionList"); err != nil {
		return nil, err
	}
	if c.SkipOutboundPorts, err = mergePorts(nil, spec.Traffic.OutboundPortExclusionList, "spec.traffic.outboundPortExclusionList"); err != nil {
		return nil, err
	}
	for i, s := range spec.Traffic.OutboundIPRangeExclusionList {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("spec.traffic.outboundIPRangeExclusionList[%d]: %q is not a CIDR such as 10.0.0.0/8", i, s)
		}
		c.SkipOutboundCIDRs = append(c.SkipOutboundCIDRs, p.Masked())
	}
	c.SkipOutboundCIDRs = wire.SortCIDRs(c.SkipOutboundCIDRs)
	if t := spec.Observability.Tracing; t.Enable {
		c.Tracing = &wire.Tracing{
			Address:  t.Address,
			Port:     cmp.Or(t.Port, meshconfig.DefaultTracingPort),
			Endpoint: cmp.Or(t.Endpoint, meshconfig.DefaultTracingEndpoint),
		}
		if c.Tracing.Address == "" {
			return nil, errors.New("spec.observability.tracing.address: required when tracing is enabled")
		}
		if c.Tracing.Port < 1 || c.Tracing.Port > 65535 {
			return nil, fmt.Errorf("spec.observability.tracing.port: %d is not a port (1-65535)", c.Tracing.Port)
		}
	}
	if j := spec.Auth.JWT; j.Enable {
		c.JWT = &wire.JWT{Issuer: j.Issuer, Audiences: slices.Clone(j.Audiences), JWKSURL: j.JWKSURL, JWKS: j.JWKS}
		if j.Issuer == "" {
			return nil, errors.New("spec.auth.jwt.issuer: required when JWT validation is enabled")
		}
		if i := slices.Index(j.Audiences, ""); i >= 0 {
			return nil, fmt.Errorf("spec.auth.jwt.audiences[%d]: empty", i)
		}
	}
	return c, nil
}

// ForWorkload returns the sidecar of one workload: c refined by the
// workload's pod-template annotations (see Annotations). workload names it in
// errors, as "deployment/web". Port and CIDR annotations add to the mesh-wide
// lists; the log level replaces the mesh-wide one. c is not modified; when
// no annotation applies, c itself is returned, so callers may memoize what
// they derive from a *Config.
func (c *Config) ForWorkload(workload string, annotations map[string]string) (*Config, error) {
	if !slices.ContainsFunc(Annotations(), func(k string) bool { _, ok := annotations[k]; return ok }) {
		return c, nil
	}
	w := c.clone()
	for _, key := range Annotations() {
		v, ok := annotations[key]
		if !ok {
			continue
		}
		var err error
		switch key {
		case AnnotationSkipInboundPorts:
			var ports []int32
			if ports, err = wire.ParsePorts(v); err == nil {
				w.SkipInboundPorts, err = mergePorts(w.SkipInboundPorts, ports, key)
			}
		case AnnotationSkipOutboundPorts:
			var ports []int32
			if ports, err = wire.ParsePorts(v); err == nil {
				w.SkipOutboundPorts, err = mergePorts(w.SkipOutboundPorts, ports, key)
			}
		case AnnotationSkipOutboundCIDRs:
			var cidrs []netip.Prefix
			if cidrs, err = wire.ParseCIDRs(v); err == nil {
				w.SkipOutboundCIDRs = wire.SortCIDRs(append(w.SkipOutboundCIDRs, cidrs...))
			}
		case AnnotationProxyLogLevel:
			w.LogLevel, err = wire.ParseLogLevel(strings.TrimSpace(v))
			w.LogLevelPinned = true
		}
		if err != nil {
			return nil, &AnnotationError{Workload: workload, Annotation: key, Value: v, Err: err}
		}
	}
	return w, nil
}

// AnnotationError is a per-workload annotation whose value does not parse.
type AnnotationError struct {
	// Workload names the workload, as "deployment/web".
	Workload string
	// Annotation is the annotation's key.
	Annotation string
	// Value is the annotation's whole value.
	Value string
	// Err says what is wrong with it.
	Err error
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("%s: annotation %s: %q: %v", e.Workload, e.Annotation, e.Value, e.Err)
}

func (e *AnnotationError) Unwrap() error { return e.Err }

// mergePorts returns the sorted union of have and add, checking add's ranges;
// what names the source in errors.
func mergePorts(have, add []int32, what string) ([]int32, error) {
	out := slices.Clone(have)
	for _, p := range add {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("%s: %d is not a port (1-65535)", what, p)
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func (c *Config) clone() *Config {
	w := *c
	w.Resources = *c.Resources.DeepCopy()
	w.SkipInboundPorts = slices.Clone(c.SkipInboundPorts)
	w.SkipOutboundPorts = slices.Clone(c.SkipOutboundPorts)
	w.SkipOutboundCIDRs = slices.Clone(c.SkipOutboundCIDRs)
	if c.Tracing != nil {
		t := *c.Tracing
		w.Tracing = &t
	}
	if c.JWT != nil {
		j := *c.JWT
		j.Audiences = slices.Clone(c.JWT.Audiences)
		j.ExemptProbes = slices.Clone(c.JWT.ExemptProbes)
		w.JWT = &j
	}
	if c.Identity != nil {
		id := *c.Identity
		id.AppProbes = slices.Clone(c.Identity.AppProbes)
		w.Identity = &id
	}
	if c.Workload != nil {
		wl := *c.Workload
		w.Workload = &wl
	}
	return &w
}

// WithWorkload returns c naming the workload w in the proxy's arguments
// (see WorkloadOf); c is not modified.
func (c *Config) WithWorkload(w wire.Workload) *Config {
	d := c.clone()
	d.Workload = &w
	return d
}

// PrometheusAnnotations are the annotations the injector gives a pod so
// that Prometheus scrapes its proxy: none unless c.AnnotatePrometheus.
func (c *Config) PrometheusAnnotations() map[string]string {
	if !c.AnnotatePrometheus {
		return nil
	}
	return map[string]string{
		AnnotationPrometheusScrape: "true",
		AnnotationPrometheusPort:   strconv.Itoa(wire.AdminPort),
		AnnotationPrometheusPath:   wire.MetricsPath,
	}
}
