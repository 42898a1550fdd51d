package proxyconfig

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func TestProxyContainerOf(t *testing.T) {
	always := ptr.To(corev1.ContainerRestartPolicyAlways)
	app := corev1.Container{Name: "app"}
	regular := corev1.Container{Name: ProxyContainerName, Image: "regular"}
	native := corev1.Container{Name: ProxyContainerName, Image: "native", RestartPolicy: always}
	plainInit := corev1.Container{Name: ProxyContainerName, Image: "init"}
	tests := []struct {
		name      string
		pod       corev1.Pod
		wantImage string // "" for no proxy
		wantReady bool
	}{
		{"none", corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{app}}}, "", false},
		{"regular container", corev1.Pod{
			Spec:   corev1.PodSpec{Containers: []corev1.Container{app, regular}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app"}, {Name: ProxyContainerName, Ready: true}}},
		}, "regular", true},
		{"native sidecar", corev1.Pod{
			Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: InitContainerName}, native}, Containers: []corev1.Container{app}},
			Status: corev1.PodStatus{
				ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", Ready: false}},
				InitContainerStatuses: []corev1.ContainerStatus{{Name: InitContainerName}, {Name: ProxyContainerName, Ready: true}},
			},
		}, "native", true},
		// An init container that runs to completion is not a proxy, whatever its name.
		{"init container of that name", corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{plainInit}, Containers: []corev1.Container{app}}}, "", false},
		{"no status yet", corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{native}}}, "native", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ProxyContainerOf(&tt.pod.Spec)
			if got := ""; c != nil {
				got = c.Image
				if got != tt.wantImage {
					t.Errorf("ProxyContainerOf = %q, want %q", got, tt.wantImage)
				}
			} else if tt.wantImage != "" {
				t.Errorf("ProxyContainerOf = nil, want %q", tt.wantImage)
			}
			s := ProxyStatusOf(&tt.pod)
			if got := s != nil && s.Ready; got != tt.wantReady {
				t.Errorf("ProxyStatusOf ready = %v, want %v", got, tt.wantReady)
			}
		})
	}
}

func TestIdentityOf(t *testing.T) {
	c, err := New(meshconfig.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	withID, err := c.WithIdentity(meshconfig.DefaultMeshNamespace, "")
	if err != nil {
		t.Fatal(err)
	}
	spec := func(p corev1.Container) *corev1.PodSpec {
		return &corev1.PodSpec{InitContainers: []corev1.Container{p}}
	}
	if id := IdentityOf(spec(withID.NativeSidecarContainer())); id == nil || id.ControllerID.String() != "spiffe://cluster.local/ns/mesh-system/sa/mesh-controller" {
		t.Errorf("a proxy with identity: %+v", id)
	}
	if id := IdentityOf(spec(c.NativeSidecarContainer())); id != nil {
		t.Errorf("a proxy without identity: %+v", id)
	}
	broken := withID.NativeSidecarContainer()
	broken.Args = append(broken.Args, "--bogus")
	if id := IdentityOf(spec(broken)); id != nil {
		t.Errorf("arguments that do not parse: %+v", id)
	}
	if id := IdentityOf(&corev1.PodSpec{}); id != nil {
		t.Errorf("no proxy: %+v", id)
	}
}
