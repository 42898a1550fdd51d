package inject

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// TestMemoizedSidecars checks that what an Injector memoizes changes no
// result: each pod, injected after all the others by one Injector, gets
// the patch a fresh Injector gives it, and bad annotations fail every time,
// however close they come to a good set already memoized.
func TestMemoizedSidecars(t *testing.T) {
	pod := func(name string, annotations map[string]string) *corev1.Pod {
		p := appPod()
		p.Name, p.Annotations = name, annotations
		return p
	}
	pods := []*corev1.Pod{
		pod("plain", nil),
		pod("ports", map[string]string{proxyconfig.AnnotationSkipInboundPorts: "8081", proxyconfig.AnnotationSkipOutboundPorts: "9090"}),
		pod("level", map[string]string{proxyconfig.AnnotationProxyLogLevel: "debug"}),
		pod("both", map[string]string{proxyconfig.AnnotationSkipInboundPorts: "8081", proxyconfig.AnnotationProxyLogLevel: "debug"}),
		pod("empty", map[string]string{}),
	}
	job := pod("job", map[string]string{proxyconfig.AnnotationProxyLogLevel: "debug"})
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	pods = append(pods, job)
	want := map[string]*Result{}
	for _, p := range pods {
		r, err := testInjector(t, testVersion).InjectPod(p, "shop")
		if err != nil {
			t.Fatal(err)
		}
		want[p.Name] = r
	}
	// Concurrently, as the webhook calls it (go test -race).
	shared := testInjector(t, testVersion)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2 {
				for _, p := range pods {
					got, err := shared.InjectPod(p, "shop")
					if err != nil {
						t.Error(err)
						return
					}
					if !reflect.DeepEqual(got, want[p.Name]) {
						t.Errorf("%s: memoized %+v, fresh %+v", p.Name, got, want[p.Name])
					}
				}
			}
		})
	}
	wg.Wait()
	// The value of the first annotation spells the pair of "ports" above.
	bad := pod("bad", map[string]string{proxyconfig.AnnotationSkipInboundPorts: "8081" + proxyconfig.AnnotationSkipOutboundPorts + "=4:9090"})
	for range 2 {
		if _, err := shared.InjectPod(bad, "shop"); err == nil || !strings.Contains(err.Error(), "pod/bad") {
			t.Errorf("bad annotation: %v", err)
		}
	}
}

// TestJWTExemptProbes: with JWT on, the proxy of each pod is told that
// pod's own httpGet probes, so two pods that differ only in their probes get
// different sidecars even from one memoizing Injector; without JWT, probes
// change nothing.
func TestJWTExemptProbes(t *testing.T) {
	probed := func(name, path string) *corev1.Pod {
		p := appPod()
		p.Name = name
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString("http"),
		}}}
		return p
	}
	proxyArgs := func(t *testing.T, in *Injector, pod *corev1.Pod) []string {
		t.Helper()
		r, err := in.InjectPod(pod, "shop")
		if err != nil {
			t.Fatal(err)
		}
		var got corev1.Pod
		if err := json.Unmarshal(applyJSONPatch(t, pod, r.Patch), &got); err != nil {
			t.Fatal(err)
		}
		return proxyconfig.ProxyContainerOf(&got.Spec).Args
	}
	exempt := func(args []string) []string {
		var out []string
		for _, a := range args {
			if strings.HasPrefix(a, "--jwt-exempt-probe=") {
				out = append(out, a)
			}
		}
		return out
	}

	plain := testInjector(t, testVersion)
	if got := exempt(proxyArgs(t, plain, probed("a", "/healthz"))); got != nil {
		t.Errorf("without JWT, the proxy got %q", got)
	}

	spec := meshconfig.DefaultSpec()
	spec.Auth.JWT = meshconfig.JWTSpec{Enable: true, Issuer: "https://issuer.example", JWKS: `{"keys":[]}`}
	in, err := New(spec, meshconfig.DefaultMeshName, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second round is served from the memo
		for _, tc := range []struct {
			pod  *corev1.Pod
			want []string
		}{
			{probed("a", "/healthz"), []string{"--jwt-exempt-probe=8080/healthz"}},
			{probed("b", "/ready"), []string{"--jwt-exempt-probe=8080/ready"}},
			{appPod(), nil},
		} {
			if got := exempt(proxyArgs(t, in, tc.pod)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s: exempt probes %q, want %q", tc.pod.Name, got, tc.want)
			}
		}
	}
	// Re-injecting an injected pod reads the probes of the app, not the
	// proxy's own (on the admin port).
	pod := probed("a", "/healthz")
	r, err := in.InjectPod(pod, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var injected corev1.Pod
	if err := json.Unmarshal(applyJSONPatch(t, pod, r.Patch), &injected); err != nil {
		t.Fatal(err)
	}
	if again, err := in.InjectPod(&injected, "shop"); err != nil || again.Action != Unchanged {
		t.Errorf("re-injection: %+v, %v; want unchanged", again, err)
	}
}
