package integration_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policycli"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// proxyPod creates a ready pod running as sa whose proxy talks to the
// controller of namespace ctrlNS.
func proxyPod(t *testing.T, ns, name, sa, ctrlNS string) {
	t.Helper()
	ctx := testenv.Context(t)
	pc, err := proxyconfig.New(meshconfig.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	c, err := pc.ForWorkload("pod/"+name, nil)
	if err != nil {
		t.Fatal(err)
	}
	proxy := c.NativeSidecarContainer()
	run := c.Run()
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, ctrlNS)
	if err != nil {
		t.Fatal(err)
	}
	run.Identity = &wire.Identity{ControllerAddress: meshconfig.ControllerAddress(ctrlNS), ControllerID: ctrl}
	proxy.Args = run.Args()
	p, err := env.Clients.Kube.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa, AutomountServiceAccountToken: ptr.To(false),
			InitContainers: []corev1.Container{c.InitContainer(), proxy},
			Containers:     []corev1.Container{{Name: "app", Image: "app:1"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: proxy.Name, Image: proxy.Image, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	if _, err := env.Clients.Kube.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestObservedEdges: the edges permissive disable weighs are the inbound,
// mutual-TLS, non-zero counters of this mesh's proxies, the peer label
// being the caller's verified identity: plain text, outbound counters
// and zero counts are not edges, another mesh's proxies are not asked, and
// a proxy that cannot be read is named.
func TestObservedEdges(t *testing.T) {
	meshNS := env.Namespace(t, nil)
	app := env.Namespace(t, nil)
	proxyPod(t, app, "store", "store", meshNS)
	proxyPod(t, app, "broken", "broken", meshNS)
	proxyPod(t, app, "other-mesh", "store", "other-mesh-system")
	const exposition = `# TYPE mesh_proxy_requests_total counter
mesh_proxy_requests_total{direction="inbound",method="GET",peer="shop/web",status_class="2xx",tls="true"} 3
mesh_proxy_requests_total{direction="inbound",method="GET",peer="port/8080",status_class="2xx",tls="false"} 5
mesh_proxy_requests_total{direction="outbound",method="GET",peer="shop/db",status_class="2xx",tls="true"} 2
mesh_proxy_requests_total{direction="inbound",method="GET",peer="shop/zero",status_class="2xx",tls="true"} 0
# TYPE mesh_proxy_tcp_connections_total counter
mesh_proxy_tcp_connections_total{direction="inbound",peer="shop/cache",tls="true"} 1
`
	var mu sync.Mutex
	var asked []string
	read := func(_ context.Context, ns, pod, path string) ([]byte, error) {
		mu.Lock()
		asked = append(asked, pod)
		mu.Unlock()
		if path != wire.MetricsPath {
			t.Errorf("read %s", path)
		}
		if pod == "broken" {
			return nil, errors.New("connection refused")
		}
		return []byte(exposition), nil
	}
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, meshNS)
	if err != nil {
		t.Fatal(err)
	}
	got, err := policycli.ObservedEdges(testenv.Context(t), env.Clients, ctrl, read)
	if err != nil {
		t.Fatal(err)
	}
	id := func(ns, sa string) identity.ID {
		v, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	store := id(app, "store")
	want := []policycli.ObservedEdge{{Source: id("shop", "cache"), Destination: store}, {Source: id("shop", "web"), Destination: store}}
	if !slices.Equal(got.Edges, want) {
		t.Errorf("edges %+v, want %+v", got.Edges, want)
	}
	if len(got.Unreadable) != 1 || got.Unreadable[0] != app+"/broken (connection refused)" {
		t.Errorf("unreadable %q, want the broken proxy named", got.Unreadable)
	}
	slices.Sort(asked)
	if !slices.Equal(asked, []string{"broken", "store"}) {
		t.Errorf("asked %v, want this mesh's two proxies only", asked)
	}
}
