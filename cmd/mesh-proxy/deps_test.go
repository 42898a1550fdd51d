package main

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
)

// TestNoKubernetesDependencies keeps the sidecar small: mesh-proxy runs in
// every meshed pod, and one import of the Kubernetes API types (directly, or
// through pkg/proxyconfig or pkg/meshconfig) links some 365 packages into it,
// tripling its idle memory. What the proxy needs from the injector belongs
// in pkg/proxyconfig/wire.
func TestNoKubernetesDependencies(t *testing.T) {
	deps := proxyDeps(t)
	forbidden := []string{
		"github.com/meshctl/meshctl/pkg/proxyconfig",
		"github.com/meshctl/meshctl/pkg/meshconfig",
		"github.com/meshctl/meshctl/pkg/kube",
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") || strings.Contains(d, "/client-go") {
			t.Errorf("mesh-proxy depends on %s", d)
		}
		// The upstream OTLP exporters link gRPC (about 3 MB of resident
		// memory in every pod); telemetry's own OTLP/HTTP exporter does not.
		if strings.HasPrefix(d, "google.golang.org/grpc") || strings.HasPrefix(d, "github.com/grpc-ecosystem/") {
			t.Errorf("mesh-proxy depends on %s: export spans with pkg/proxy/telemetry's OTLP/HTTP exporter", d)
		}
		for _, f := range forbidden {
			if d == f {
				t.Errorf("mesh-proxy depends on %s, which imports Kubernetes; use pkg/proxyconfig/wire", d)
			}
		}
	}
}

// TestProxyLinksNoGeneratedProtobuf keeps the protobuf runtime out of the
// sidecar: generated message types register themselves in protoregistry,
// and that package init (reflection, descriptors) costs about 2 MB of
// resident memory at start, tracing on or off. telemetry writes OTLP with
// protowire alone, which links none of it. The Prometheus client links
// the runtime too (and 1 MB more of its own): telemetry writes the metrics'
// text format itself.
func TestProxyLinksNoGeneratedProtobuf(t *testing.T) {
	for _, d := range proxyDeps(t) {
		if strings.HasPrefix(d, "go.opentelemetry.io/proto/otlp") ||
			d == "google.golang.org/protobuf/proto" || d == "google.golang.org/protobuf/reflect/protoregistry" {
			t.Errorf("mesh-proxy depends on %s: encode with google.golang.org/protobuf/encoding/protowire, as pkg/proxy/telemetry's OTLP exporter does", d)
		}
		if strings.HasPrefix(d, "github.com/prometheus/") {
			t.Errorf("mesh-proxy depends on %s: pkg/proxy/telemetry writes the metrics' exposition itself", d)
		}
		// telemetry's tests hold its exporter to the upstream one; only
		// the tests may link it.
		if strings.HasPrefix(d, "go.opentelemetry.io/otel/exporters/") {
			t.Errorf("mesh-proxy depends on %s: export spans with pkg/proxy/telemetry's OTLP/HTTP exporter", d)
		}
	}
}

// proxyDeps lists the packages mesh-proxy links, itself last.
func proxyDeps(t *testing.T) []string {
	t.Helper()
	deps := godeps.Paths(godeps.List(t, "."))
	if len(deps) < 10 || deps[len(deps)-1] != "github.com/meshctl/meshctl/cmd/mesh-proxy" {
		t.Fatalf("go list -deps did not list mesh-proxy's dependencies: %v", deps)
	}
	return deps
}
