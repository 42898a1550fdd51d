package proxyconfig

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func httpGet(path string, port intstr.IntOrString) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port}}}
}

func TestHTTPProbesOf(t *testing.T) {
	named := intstr.FromString("http")
	app := func(mod func(*corev1.Container)) corev1.Container {
		c := corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
		mod(&c)
		return c
	}
	for name, tc := range map[string]struct {
		spec corev1.PodSpec
		want []wire.Probe
	}{
		"none": {spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}},
		"named port, every kind, deduplicated and sorted": {spec: corev1.PodSpec{Containers: []corev1.Container{app(func(c *corev1.Container) {
			c.ReadinessProbe = httpGet("/ready", named)
			c.LivenessProbe = httpGet("/healthz", intstr.FromInt32(8080))
			c.StartupProbe = httpGet("/healthz", named)
		})}}, want: []wire.Probe{{Port: 8080, Path: "/healthz"}, {Port: 8080, Path: "/ready"}}},
		"default path, query dropped, encoded as sent": {spec: corev1.PodSpec{Containers: []corev1.Container{app(func(c *corev1.Container) {
			c.ReadinessProbe = httpGet("", named)
			c.LivenessProbe = httpGet("/live?verbose=1", named)
			c.StartupProbe = httpGet("/a b", named)
		})}}, want: []wire.Probe{{Port: 8080, Path: "/"}, {Port: 8080, Path: "/a%20b"}, {Port: 8080, Path: "/live"}}},
		"unresolvable name, HTTPS, host, exec, relative and absolute paths skipped": {spec: corev1.PodSpec{Containers: []corev1.Container{app(func(c *corev1.Container) {
			c.ReadinessProbe = httpGet("/ready", intstr.FromString("metrics"))
			c.LivenessProbe = httpGet("/live", named)
			c.LivenessProbe.HTTPGet.Scheme = corev1.URISchemeHTTPS
			c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}), app(func(c *corev1.Container) {
			c.Name = "other"
			c.ReadinessProbe = httpGet("/ready", named)
			c.ReadinessProbe.HTTPGet.Host = "example.com"
			c.LivenessProbe = httpGet("healthz", named)
			c.StartupProbe = httpGet("http://x/healthz", named)
		})}}},
		"named port resolves in its own container only": {spec: corev1.PodSpec{Containers: []corev1.Container{
			app(func(*corev1.Container) {}),
			{Name: "b", ReadinessProbe: httpGet("/b", named)},
		}}},
		"restartable init containers count, others and the mesh's do not": {spec: corev1.PodSpec{
			InitContainers: []corev1.Container{
				{Name: "setup", ReadinessProbe: httpGet("/setup", intstr.FromInt32(1))},
				{Name: "helper", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), ReadinessProbe: httpGet("/helper", intstr.FromInt32(9000))},
				{Name: ProxyContainerName, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), ReadinessProbe: httpGet("/ready", intstr.FromInt32(wire.AdminPort))},
			},
			Containers: []corev1.Container{{Name: "app", LivenessProbe: httpGet("/live", intstr.FromInt32(8080))}},
		}, want: []wire.Probe{{Port: 8080, Path: "/live"}, {Port: 9000, Path: "/helper"}}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := HTTPProbesOf(&tc.spec); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("HTTPProbesOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWithExemptProbes(t *testing.T) {
	probes := []wire.Probe{{Port: 8080, Path: "/ready"}, {Port: 8080, Path: "/healthz"}}
	plain, err := New(meshconfig.MeshConfigSpec{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.WithExemptProbes(probes) != plain {
		t.Error("without JWT, WithExemptProbes changed the sidecar")
	}
	spec := meshconfig.MeshConfigSpec{}
	spec.Auth.JWT = meshconfig.JWTSpec{Enable: true, Issuer: "https://issuer.example", JWKS: `{"keys":[]}`}
	c, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if c.WithExemptProbes(nil) != c {
		t.Error("without probes, WithExemptProbes changed the sidecar")
	}
	w := c.WithExemptProbes(probes)
	if len(c.JWT.ExemptProbes) != 0 {
		t.Errorf("WithExemptProbes modified the mesh-wide sidecar: %v", c.JWT.ExemptProbes)
	}
	want := []string{"--jwt-exempt-probe=8080/healthz", "--jwt-exempt-probe=8080/ready"}
	if got := w.RunArgs(); !reflect.DeepEqual(got[len(got)-2:], want) {
		t.Errorf("RunArgs end with %q, want %q", got[len(got)-2:], want)
	}
	if got := c.RunArgs(); reflect.DeepEqual(got[len(got)-2:], want) {
		t.Errorf("the mesh-wide RunArgs have the probes: %q", got)
	}
}
