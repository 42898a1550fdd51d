package namespace

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

func TestCheckPodSecurity(t *testing.T) {
	cases := []struct {
		name   string
		labels map[string]string
		reject bool
	}{
		{"no label", nil, false},
		{"privileged", map[string]string{psaapi.EnforceLevelLabel: "privileged"}, false},
		{"baseline", map[string]string{psaapi.EnforceLevelLabel: "baseline"}, true},
		{"restricted", map[string]string{psaapi.EnforceLevelLabel: "restricted"}, true},
		{"baseline at an old version", map[string]string{psaapi.EnforceLevelLabel: "baseline", psaapi.EnforceVersionLabel: "v1.30"}, true},
		// The API server treats a level it cannot parse as restricted.
		{"unparsable level", map[string]string{psaapi.EnforceLevelLabel: "strict"}, true},
		{"only warn", map[string]string{psaapi.WarnLevelLabel: "restricted"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps", Labels: tc.labels}}
			p, err := CheckPodSecurity(ns, meshconfig.MeshConfigSpec{})
			if err != nil {
				t.Fatal(err)
			}
			if (p != nil) != tc.reject {
				t.Fatalf("problem = %v, want rejected=%v", p, tc.reject)
			}
			if p == nil {
				return
			}
			for _, want := range []string{`namespace "apps"`, proxyconfig.InitContainerName, "NET_ADMIN", "NET_RAW"} {
				if !strings.Contains(p.Error(), want) {
					t.Errorf("error %q does not name %q", p.Error(), want)
				}
			}
			if a := p.Advice(); !strings.Contains(a, "kubectl label namespace apps "+psaapi.EnforceLevelLabel+"=privileged --overwrite") {
				t.Errorf("advice %q does not say how to relabel", a)
			}
		})
	}
}

// TestCheckPodSecurityAgreesWithTheAPIServer creates the pod CheckPodSecurity
// evaluates in namespaces of each level of the real API server's PodSecurity
// admission: what it predicts is what the API server does.
func TestCheckPodSecurityAgreesWithTheAPIServer(t *testing.T) {
	ctx := testenv.Context(t)
	pc, err := proxyconfig.New(meshconfig.MeshConfigSpec{})
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []string{"privileged", "baseline", "restricted"} {
		name := env.Namespace(t, map[string]string{psaapi.EnforceLevelLabel: level})
		ns := getNS(t, name)
		p, err := CheckPodSecurity(ns, meshconfig.MeshConfigSpec{})
		if err != nil {
			t.Fatal(err)
		}
		pod := sidecarPod(pc)
		pod.Spec.ServiceAccountName = "default"
		_, createErr := env.Clients.Kube.CoreV1().Pods(name).Create(ctx, pod, metav1.CreateOptions{})
		if (p != nil) != (createErr != nil) {
			t.Errorf("level %s: CheckPodSecurity says %v, the API server %v", level, p, createErr)
		}
		if createErr != nil && !strings.Contains(createErr.Error(), "violates PodSecurity") {
			t.Errorf("level %s: the pod was refused for another reason: %v", level, createErr)
		}
	}
}

// TestAddWarnsAboutPodSecurity: the warning comes before the enrolment,
// which goes on.
func TestAddWarnsAboutPodSecurity(t *testing.T) {
	ctx := testenv.Context(t)
	meshNS := mesh(t, "blue")
	a := env.Namespace(t, map[string]string{psaapi.EnforceLevelLabel: "baseline"})
	ok := env.Namespace(t, nil)
	var s streams
	if err := addOpts(&s, "blue", meshNS, a, ok).Run(ctx); err != nil {
		t.Fatal(err)
	}
	assertEnrolled(t, a, "blue", meshconfig.InjectionEnabled)
	assertContains(t, "stderr", s.errOut.String(), `Warning: namespace "`+a+`" enforces Pod Security level "baseline"`, "NET_ADMIN", "=privileged --overwrite")
	if strings.Contains(s.errOut.String(), ok) {
		t.Errorf("stderr warns about %s, which enforces nothing: %s", ok, s.errOut.String())
	}
	// Enrolling with injection disabled injects nothing: no warning.
	s = streams{}
	o := addOpts(&s, "blue", meshNS, a)
	o.DisableSidecarInjection = true
	if err := o.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.errOut.String(), "Pod Security") {
		t.Errorf("warned with injection disabled: %s", s.errOut.String())
	}
}
