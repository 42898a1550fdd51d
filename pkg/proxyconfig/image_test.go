package proxyconfig

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

func TestSameImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const other = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	cases := []struct {
		a, b string
		same bool
	}{
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/meshctl/mesh-proxy:v1", true},
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/meshctl/mesh-proxy:v2", false},
		{"mesh-proxy", "docker.io/library/mesh-proxy:latest", true},
		{"org/mesh-proxy:v1", "docker.io/org/mesh-proxy:v1", true},
		{"ghcr.io/meshctl/mesh-proxy", "ghcr.io/meshctl/mesh-proxy:latest", true},
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/other/mesh-proxy:v1", false},
		{"ghcr.io/meshctl/mesh-proxy@" + digest, "ghcr.io/meshctl/mesh-proxy:v1@" + digest, true},
		{"ghcr.io/meshctl/mesh-proxy@" + digest, "ghcr.io/meshctl/mesh-proxy@" + other, false},
		{"ghcr.io/meshctl/mesh-proxy:v1@" + digest, "ghcr.io/meshctl/mesh-proxy:v1", false},
		{"ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/meshctl/mesh-proxy:v1@" + digest, false},
	}
	for _, tc := range cases {
		same, err := SameImage(tc.a, tc.b)
		if err != nil || same != tc.same {
			t.Errorf("SameImage(%q, %q) = %v, %v; want %v", tc.a, tc.b, same, err, tc.same)
		}
	}
	if _, err := SameImage("Not An Image", "x"); err == nil {
		t.Error("an invalid reference parsed")
	}
}

func FuzzSameImage(f *testing.F) {
	f.Add("ghcr.io/meshctl/mesh-proxy:v1", "mesh-proxy")
	f.Add("a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "a:b")
	f.Fuzz(func(t *testing.T, a, b string) {
		same, err := SameImage(a, b)
		if err != nil {
			return
		}
		back, err := SameImage(b, a)
		if err != nil || back != same {
			t.Fatalf("SameImage is not symmetric for %q, %q", a, b)
		}
		if self, err := SameImage(a, a); err != nil || !self {
			t.Fatalf("%q is not the same image as itself", a)
		}
	})
}

// TestOutdatedContainers: the proxy, wherever it sits, and the init
// container are compared; the app's containers never are.
func TestOutdatedContainers(t *testing.T) {
	const want = "ghcr.io/meshctl/mesh-proxy:v2"
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	native := func(proxy, init string) *corev1.PodSpec {
		return &corev1.PodSpec{
			Containers:     []corev1.Container{{Name: "app", Image: "app:v1"}},
			InitContainers: []corev1.Container{{Name: InitContainerName, Image: init}, {Name: ProxyContainerName, Image: proxy, RestartPolicy: always}},
		}
	}
	cases := []struct {
		name string
		spec *corev1.PodSpec
		want []string
	}{
		{"current", native(want, want), nil},
		{"current, spelled with the default tag elsewhere", native("ghcr.io/meshctl/mesh-proxy:v2", want), nil},
		{"both old", native("ghcr.io/meshctl/mesh-proxy:v1", "ghcr.io/meshctl/mesh-proxy:v1"), []string{ProxyContainerName, InitContainerName}},
		{"init old", native(want, "ghcr.io/meshctl/mesh-proxy:v1"), []string{InitContainerName}},
		{"other registry", native("registry.example/mesh-proxy:v2", want), []string{ProxyContainerName}},
		{"proxy among the containers (older layout)", &corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}, {Name: ProxyContainerName, Image: "ghcr.io/meshctl/mesh-proxy:v1"}}}, []string{ProxyContainerName}},
		{"no sidecar", &corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "ghcr.io/meshctl/mesh-proxy:v1"}}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := OutdatedContainers(tc.spec, want)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range got {
				names = append(names, c.Name)
			}
			if len(names) != len(tc.want) {
				t.Fatalf("outdated %v, want %v", names, tc.want)
			}
			for i := range names {
				if names[i] != tc.want[i] {
					t.Fatalf("outdated %v, want %v", names, tc.want)
				}
			}
		})
	}
	if _, err := OutdatedContainers(native("Not An Image", want), want); err == nil {
		t.Error("an unparsable image is not an error")
	}
}

func TestImageOf(t *testing.T) {
	if got := ImageOf(meshconfig.MeshConfigSpec{}); got != DefaultImage() {
		t.Errorf("ImageOf(empty) = %q, want %q", got, DefaultImage())
	}
	var s meshconfig.MeshConfigSpec
	s.Sidecar.Image = "registry.example/mesh-proxy:v9"
	if got := ImageOf(s); got != s.Sidecar.Image {
		t.Errorf("ImageOf = %q, want %q", got, s.Sidecar.Image)
	}
}

// TestInjectedBeforeTheWorkloadFlags: a proxy injected before the proxy
// named its workload, with neither the --workload-* flags nor the
// Prometheus annotations, is outdated only if its image is: its arguments
// still parse (the flags are optional, and a proxy without them names its
// namespace only), and `meshctl check` and `upgrade --restart-proxies`
// judge by the image alone. A restart of its workload gives it the labels.
func TestInjectedBeforeTheWorkloadFlags(t *testing.T) {
	spec := meshconfig.DefaultSpec()
	c, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	before := c.NativeSidecarContainer() // no Workload: the arguments of before
	for _, a := range before.Args {
		if strings.HasPrefix(a, "--workload-") {
			t.Fatalf("a sidecar without a workload has %s", a)
		}
	}
	if r, err := wire.ParseRunArgs(before.Args); err != nil || r.Workload != nil {
		t.Fatalf("mesh-proxy reads the older arguments as %+v, %v", r.Workload, err)
	}
	pod := &corev1.PodSpec{
		Containers:     []corev1.Container{{Name: "app", Image: "app:v1"}},
		InitContainers: []corev1.Container{c.InitContainer(), before},
	}
	if out, err := OutdatedContainers(pod, ImageOf(spec)); err != nil || len(out) != 0 {
		t.Errorf("a pod injected before the workload flags, with the MeshConfig's image: outdated %v, %v", out, err)
	}
	after := c.WithWorkload(wire.Workload{Kind: wire.KindDeployment, Name: "web"}).NativeSidecarContainer()
	if len(after.Args) != len(before.Args)+2 {
		t.Errorf("with a workload the proxy's arguments are %q", after.Args)
	}
}
