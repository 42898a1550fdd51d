package proxyconfig

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func TestNewDefaults(t *testing.T) {
	c, err := New(meshconfig.MeshConfigSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Image != DefaultImage() || c.LogLevel != wire.DefaultLogLevel {
		t.Errorf("image %q level %q, want the defaults", c.Image, c.LogLevel)
	}
	if !reflect.DeepEqual(c.Resources, DefaultResources()) {
		t.Errorf("resources %v, want the defaults", c.Resources)
	}
}

func TestNewErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		spec meshconfig.MeshConfigSpec
		want string
	}{
		"log level":    {meshconfig.MeshConfigSpec{Sidecar: meshconfig.SidecarSpec{LogLevel: "loud"}}, `spec.sidecar.logLevel: unknown log level "loud"`},
		"inbound port": {meshconfig.MeshConfigSpec{Traffic: meshconfig.TrafficSpec{InboundPortExclusionList: []int32{0}}}, "spec.traffic.inboundPortExclusionList: 0 is not a port"},
		"cidr":         {meshconfig.MeshConfigSpec{Traffic: meshconfig.TrafficSpec{OutboundIPRangeExclusionList: []string{"10.0.0.0"}}}, `spec.traffic.outboundIPRangeExclusionList[0]: "10.0.0.0" is not a CIDR`},
		"tracing":      {meshconfig.MeshConfigSpec{Observability: meshconfig.ObservabilitySpec{Tracing: meshconfig.TracingSpec{Enable: true}}}, "spec.observability.tracing.address: required"},
		"jwt":          {meshconfig.MeshConfigSpec{Auth: meshconfig.AuthSpec{JWT: meshconfig.JWTSpec{Enable: true}}}, "spec.auth.jwt.issuer: required"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestForWorkload(t *testing.T) {
	mesh, err := New(meshconfig.MeshConfigSpec{Traffic: meshconfig.TrafficSpec{
		InboundPortExclusionList:     []int32{9090},
		OutboundIPRangeExclusionList: []string{"10.0.0.0/8"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := mesh.ForWorkload("deployment/web", map[string]string{
		AnnotationSkipInboundPorts:  "8081, 9090,80",
		AnnotationSkipOutboundPorts: "5432",
		AnnotationSkipOutboundCIDRs: "192.168.1.7/16,fd00::/8",
		AnnotationProxyLogLevel:     "debug",
		"unrelated":                 "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.SkipInboundPorts, []int32{80, 8081, 9090}; !reflect.DeepEqual(got, want) {
		t.Errorf("inbound %v, want %v", got, want)
	}
	if got, want := w.SkipOutboundPorts, []int32{5432}; !reflect.DeepEqual(got, want) {
		t.Errorf("outbound %v, want %v", got, want)
	}
	if got, want := wire.FormatCIDRs(w.SkipOutboundCIDRs), "10.0.0.0/8,192.168.0.0/16,fd00::/8"; got != want {
		t.Errorf("cidrs %v, want %v", got, want)
	}
	if w.LogLevel != wire.LogDebug || mesh.LogLevel != wire.LogInfo {
		t.Errorf("log levels workload %q mesh %q", w.LogLevel, mesh.LogLevel)
	}
	if len(mesh.SkipInboundPorts) != 1 {
		t.Errorf("ForWorkload modified the mesh-wide config: %v", mesh.SkipInboundPorts)
	}
}

func TestForWorkloadErrors(t *testing.T) {
	mesh, err := New(meshconfig.MeshConfigSpec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, value, want string }{
		{AnnotationSkipInboundPorts, "80,0", `deployment/web: annotation config.meshctl.io/skip-inbound-ports: "80,0": "0" is not a port (1-65535)`},
		{AnnotationSkipInboundPorts, "65536", `"65536" is not a port`},
		{AnnotationSkipOutboundPorts, "http", `annotation config.meshctl.io/skip-outbound-ports: "http": "http" is not a port`},
		{AnnotationSkipOutboundCIDRs, "10.0.0.0/33", `annotation config.meshctl.io/skip-outbound-cidrs: "10.0.0.0/33": "10.0.0.0/33" is not a CIDR`},
		{AnnotationSkipOutboundCIDRs, "10.1.2.3", `"10.1.2.3" is not a CIDR`},
		{AnnotationProxyLogLevel, "trace", `annotation config.meshctl.io/proxy-log-level: "trace": unknown log level "trace"`},
	} {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			_, err := mesh.ForWorkload("deployment/web", map[string]string{tc.key: tc.value})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			var ae *AnnotationError
			if !asAnnotationError(err, &ae) || ae.Annotation != tc.key || ae.Value != tc.value {
				t.Errorf("error %#v does not name the annotation and value", err)
			}
		})
	}
}

func asAnnotationError(err error, target **AnnotationError) bool {
	ae, ok := err.(*AnnotationError)
	*target = ae
	return ok
}

// fullConfig sets every field, so that round trips cover every flag.
func fullConfig(t testing.TB) *Config {
	c, err := New(meshconfig.MeshConfigSpec{
		Sidecar: meshconfig.SidecarSpec{Image: "registry.local/mesh-proxy:v9", LogLevel: "warn"},
		Traffic: meshconfig.TrafficSpec{
			InboundPortExclusionList:     []int32{8081, 22},
			OutboundPortExclusionList:    []int32{5432},
			OutboundIPRangeExclusionList: []string{"169.254.169.254/32", "10.0.0.0/8", "fd00::/8"},
		},
		Observability: meshconfig.ObservabilitySpec{
			Metrics: meshconfig.MetricsSpec{Enable: true},
			Tracing: meshconfig.TracingSpec{Enable: true, Address: "otel.tracing", Port: 4318, Endpoint: "/v1/traces"},
		},
		Auth: meshconfig.AuthSpec{JWT: meshconfig.JWTSpec{Enable: true, Issuer: "https://issuer.example", Audiences: []string{"books", "stars,too"}, JWKS: `{"keys":[]}`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestArgsRoundTrip(t *testing.T) {
	for name, c := range map[string]*Config{"default": mustNew(t), "full": fullConfig(t)} {
		t.Run(name, func(t *testing.T) {
			i, err := wire.ParseInitArgs(c.InitArgs())
			if err != nil {
				t.Fatalf("wire.ParseInitArgs(%q): %v", c.InitArgs(), err)
			}
			if !reflect.DeepEqual(i, c.Interception()) {
				t.Errorf("init round trip:\n got %+v\nwant %+v", i, c.Interception())
			}
			r, err := wire.ParseRunArgs(c.RunArgs())
			if err != nil {
				t.Fatalf("wire.ParseRunArgs(%q): %v", c.RunArgs(), err)
			}
			if !reflect.DeepEqual(r, c.Run()) {
				t.Errorf("run round trip:\n got %+v\nwant %+v", r, c.Run())
			}
		})
	}
}

func mustNew(t testing.TB) *Config {
	c, err := New(meshconfig.MeshConfigSpec{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEnv: the proxy container declares exactly the variables mesh-proxy
// requires, and each comes from the downward API.
func TestEnv(t *testing.T) {
	var names []string
	env := map[string]string{}
	for _, e := range Env() {
		names = append(names, e.Name)
		env[e.Name] = "x"
		if e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath == "" {
			t.Errorf("%s is not taken from the downward API: %+v", e.Name, e)
		}
	}
	if !reflect.DeepEqual(names, wire.EnvNames()) {
		t.Errorf("Env declares %v, mesh-proxy reads %v", names, wire.EnvNames())
	}
	if _, err := wire.ReadPodEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Errorf("mesh-proxy rejects the declared environment: %v", err)
	}
}

// TestContainers pins the rendered containers; the security contexts in
// particular are a contract reviewers check.
func TestContainers(t *testing.T) {
	for name, c := range map[string]*Config{"default": mustNew(t), "full": fullConfig(t)} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(map[string]any{"initContainer": c.InitContainer(), "proxyContainer": c.NativeSidecarContainer()})
			if err != nil {
				t.Fatal(err)
			}
			y, err := yaml.JSONToYAML(b)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "testdata/containers-"+name+".golden", y)
		})
	}
	init := mustNew(t).InitContainer().SecurityContext
	if got := init.Capabilities.Add; !reflect.DeepEqual(got, []corev1.Capability{"NET_ADMIN", "NET_RAW"}) {
		t.Errorf("init capabilities %v", got)
	}
	native := mustNew(t).NativeSidecarContainer()
	proxy := native.SecurityContext
	if *proxy.RunAsUser != wire.ProxyUID || !*proxy.RunAsNonRoot || !*proxy.ReadOnlyRootFilesystem || *proxy.AllowPrivilegeEscalation {
		t.Errorf("proxy security context %+v", proxy)
	}
	// The kubelet starts the app only once the startup probe has passed,
	// which takes /ready on the admin port; a minute at most.
	if native.RestartPolicy == nil || *native.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("proxy restartPolicy %v, want Always", native.RestartPolicy)
	}
	sp := native.StartupProbe
	if sp == nil || sp.HTTPGet == nil || sp.HTTPGet.Path != wire.ReadyPath || sp.HTTPGet.Port.IntValue() != wire.AdminPort ||
		sp.PeriodSeconds != 1 || sp.FailureThreshold*sp.PeriodSeconds < 60 {
		t.Errorf("proxy startup probe %+v", sp)
	}
}

// FuzzForWorkload: annotation values never panic the parser, and an
// accepted workload config always renders arguments mesh-proxy accepts.
func FuzzForWorkload(f *testing.F) {
	f.Add("80,8080", "10.0.0.0/8", "debug")
	f.Add(" ,1", "::/0,10.1.1.1/32", "info")
	mesh := mustNew(f)
	f.Fuzz(func(t *testing.T, ports, cidrs, level string) {
		w, err := mesh.ForWorkload("pod/x", map[string]string{
			AnnotationSkipInboundPorts: ports, AnnotationSkipOutboundPorts: ports,
			AnnotationSkipOutboundCIDRs: cidrs, AnnotationProxyLogLevel: level,
		})
		if err != nil {
			return
		}
		if _, err := wire.ParseInitArgs(w.InitArgs()); err != nil {
			t.Fatalf("init args %q: %v", w.InitArgs(), err)
		}
		if _, err := wire.ParseRunArgs(w.RunArgs()); err != nil {
			t.Fatalf("run args %q: %v", w.RunArgs(), err)
		}
	})
}
