package channel

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

var created = metav1.NewTime(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC))

// meshedSpec is the pod spec the injector writes for a MeshConfig whose
// inbound exclusion list is 9090 and a pod annotated with skip, with the
// proxy's identity flags when withIdentity.
func meshedSpec(t *testing.T, skip string, withIdentity bool) corev1.PodSpec {
	t.Helper()
	mesh, err := proxyconfig.New(meshconfig.MeshConfigSpec{Traffic: meshconfig.TrafficSpec{InboundPortExclusionList: []int32{9090}}})
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{}
	if skip != "" {
		ann[proxyconfig.AnnotationSkipInboundPorts] = skip
	}
	c, err := mesh.ForWorkload("pod/x", ann)
	if err != nil {
		t.Fatal(err)
	}
	proxy := c.NativeSidecarContainer()
	if withIdentity {
		run := c.Run()
		ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, "mesh-system")
		if err != nil {
			t.Fatal(err)
		}
		run.Identity = &wire.Identity{ControllerAddress: meshconfig.ControllerAddress("mesh-system"), ControllerID: ctrl}
		proxy.Args = run.Args()
	}
	return corev1.PodSpec{
		ServiceAccountName: "web",
		InitContainers:     []corev1.Container{c.InitContainer(), proxy},
		Containers:         []corev1.Container{{Name: "app", Image: "app"}},
	}
}

func pod(t *testing.T, ns, name string, ips ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created,
			Annotations: map[string]string{meshconfig.AnnotationInjected: "{}"}},
		Spec:   meshedSpec(t, "", true),
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, ip := range ips {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(ips) > 0 {
		p.Status.PodIP = ips[0]
	}
	return p
}

func namespace(name, mesh string) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if mesh != "" {
		ns.Labels = map[string]string{meshconfig.LabelMonitoredBy: mesh}
	}
	return ns
}

func baseState() state {
	return state{
		meshName: "mesh", trustDomain: identity.DefaultTrustDomain,
		namespaces: []*corev1.Namespace{namespace("shop", "mesh"), namespace("plain", ""), namespace("other", "other-mesh")},
	}
}

func TestBuildPods(t *testing.T) {
	addr := netip.MustParseAddr
	for name, tc := range map[string]struct {
		pod  func(t *testing.T) *corev1.Pod
		want []channel.Pod
	}{
		"meshed": {func(t *testing.T) *corev1.Pod { return pod(t, "shop", "a", "198.18.0.1") },
			[]channel.Pod{{IPs: []netip.Addr{addr("198.18.0.1")}, Identity: "spiffe://cluster.local/ns/shop/sa/web", BypassPorts: []uint16{9090, 15000}}}},
		"annotated skip ports": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Spec = meshedSpec(t, "8081,22", true)
			return p
		}, []channel.Pod{{IPs: []netip.Addr{addr("198.18.0.1")}, Identity: "spiffe://cluster.local/ns/shop/sa/web", BypassPorts: []uint16{22, 8081, 9090, 15000}}}},
		"default service account": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Spec.ServiceAccountName = ""
			return p
		}, []channel.Pod{{IPs: []netip.Addr{addr("198.18.0.1")}, Identity: "spiffe://cluster.local/ns/shop/sa/default", BypassPorts: []uint16{9090, 15000}}}},
		"dual stack": {func(t *testing.T) *corev1.Pod { return pod(t, "shop", "a", "198.18.0.1", "fd00::1") },
			[]channel.Pod{{IPs: []netip.Addr{addr("198.18.0.1"), addr("fd00::1")}, Identity: "spiffe://cluster.local/ns/shop/sa/web", BypassPorts: []uint16{9090, 15000}}}},
		"unenrolled namespace": {func(t *testing.T) *corev1.Pod { return pod(t, "plain", "a", "198.18.0.1") }, nil},
		"injected for this mesh's controller, namespace not enrolled": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "plain", "a", "198.18.0.1")
			p.Labels = map[string]string{"for": "this-controller"}
			return p
		}, []channel.Pod{{IPs: []netip.Addr{addr("198.18.0.1")}, Identity: "spiffe://cluster.local/ns/plain/sa/web", BypassPorts: []uint16{9090, 15000}}}},
		"injected for another controller, namespace not enrolled": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "plain", "a", "198.18.0.1")
			p.Labels = map[string]string{"for": "another-controller"}
			return p
		}, nil},
		"another mesh":      {func(t *testing.T) *corev1.Pod { return pod(t, "other", "a", "198.18.0.1") }, nil},
		"unknown namespace": {func(t *testing.T) *corev1.Pod { return pod(t, "gone", "a", "198.18.0.1") }, nil},
		"no marker": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Annotations = nil
			return p
		}, nil},
		"proxy without identity": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Spec = meshedSpec(t, "", false)
			return p
		}, nil},
		"no proxy": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Spec.InitContainers = p.Spec.InitContainers[:1]
			return p
		}, nil},
		"no interception rules": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Spec.InitContainers = p.Spec.InitContainers[1:]
			return p
		}, nil},
		"rules that do not parse": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Spec.InitContainers[0].Args = append(p.Spec.InitContainers[0].Args, "--skip-inbound-ports=70000")
			return p
		}, nil},
		"host network": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Spec.HostNetwork = true
			return p
		}, nil},
		"finished": {func(t *testing.T) *corev1.Pod {
			p := pod(t, "shop", "a", "198.18.0.1")
			p.Status.Phase = corev1.PodSucceeded
			return p
		}, nil},
		"no IP yet": {func(t *testing.T) *corev1.Pod { return pod(t, "shop", "a") }, nil},
	} {
		t.Run(name, func(t *testing.T) {
			st := baseState()
			p := tc.pod(t)
			switch p.Labels["for"] {
			case "this-controller":
				st.controllerID = testControllerID(t, "mesh-system")
			case "another-controller":
				st.controllerID = testControllerID(t, "other-system")
			}
			st.pods = []*corev1.Pod{p}
			got := build(st).Pods
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestBuildPodIPConflict: of two live pods claiming one IP, the newer
// holds it.
func TestBuildPodIPConflict(t *testing.T) {
	old := pod(t, "shop", "old", "198.18.0.1")
	old.Spec.ServiceAccountName = "old"
	young := pod(t, "shop", "young", "198.18.0.1")
	young.CreationTimestamp = metav1.NewTime(created.Add(time.Minute))
	for _, order := range [][]*corev1.Pod{{old, young}, {young, old}} {
		st := baseState()
		st.pods = order
		got := build(st).Pods
		if len(got) != 1 || got[0].Identity != "spiffe://cluster.local/ns/shop/sa/web" {
			t.Errorf("got %+v, want the younger pod's identity only", got)
		}
	}
}

func slice(ns, svc, name string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: family, Ports: ports, Endpoints: eps,
	}
}

func endpoint(ready *bool, ips ...string) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: ips, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
}

func TestBuildServices(t *testing.T) {
	st := baseState()
	st.services = []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}, Spec: corev1.ServiceSpec{
			ClusterIP: "198.19.0.1", ClusterIPs: []string{"198.19.0.1", "fd01::1"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9090},
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			},
		}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}, Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "external"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "plain", Name: "outside"}, Spec: corev1.ServiceSpec{ClusterIP: "198.19.0.9", Ports: []corev1.ServicePort{{Port: 80}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "empty"}, Spec: corev1.ServiceSpec{ClusterIP: "198.19.0.2", Ports: []corev1.ServicePort{{Port: 80}}}},
	}
	httpPorts := []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}, {Name: ptr.To("metrics"), Port: ptr.To[int32](9091), Protocol: ptr.To(corev1.ProtocolTCP)}}
	st.slices = []*discoveryv1.EndpointSlice{
		slice("shop", "web", "web-1", discoveryv1.AddressTypeIPv4, httpPorts,
			endpoint(ptr.To(true), "198.18.0.2"), endpoint(nil, "198.18.0.1"), endpoint(ptr.To(false), "198.18.0.3")),
		// The same endpoint in a second slice, as while the controller
		// moves it, and an IPv6 slice.
		slice("shop", "web", "web-2", discoveryv1.AddressTypeIPv4, httpPorts, endpoint(ptr.To(true), "198.18.0.2")),
		slice("shop", "web", "web-3", discoveryv1.AddressTypeIPv6, httpPorts, endpoint(ptr.To(true), "fd00::2")),
		// Another Service's slice in the same namespace.
		slice("shop", "api", "api-1", discoveryv1.AddressTypeIPv4, httpPorts, endpoint(ptr.To(true), "198.18.0.7")),
		slice("shop", "web", "web-fqdn", discoveryv1.AddressTypeFQDN, httpPorts, endpoint(ptr.To(true), "example.com")),
	}
	ap := netip.MustParseAddrPort
	want := []channel.Service{
		{Name: "shop/empty", IPs: []netip.Addr{netip.MustParseAddr("198.19.0.2")}, Ports: []channel.ServicePort{{Port: 80}}},
		{Name: "shop/web", IPs: []netip.Addr{netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("fd01::1")}, Ports: []channel.ServicePort{
			{Port: 80, Endpoints: []netip.AddrPort{ap("198.18.0.1:8080"), ap("198.18.0.2:8080"), ap("[fd00::2]:8080")}},
			{Port: 9090, Endpoints: []netip.AddrPort{ap("198.18.0.1:9091"), ap("198.18.0.2:9091"), ap("[fd00::2]:9091")}},
		}},
	}
	got := build(st).Services
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestBuildIsDeterministic: the same objects in any order give the same
// bytes, as two replicas' informers list them in their own orders.
func TestBuildIsDeterministic(t *testing.T) {
	st := baseState()
	for i := range 20 {
		st.pods = append(st.pods, pod(t, "shop", "p"+string(rune('a'+i)), netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}).String()))
		st.services = append(st.services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "s" + string(rune('a'+i))},
			Spec: corev1.ServiceSpec{ClusterIP: netip.AddrFrom4([4]byte{198, 19, 1, byte(i)}).String(), Ports: []corev1.ServicePort{{Port: 80}, {Port: 81, Name: "b"}}}})
	}
	first := build(st)
	want, err := channel.EncodeContent(&first)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10 {
		r.Shuffle(len(st.pods), func(i, j int) { st.pods[i], st.pods[j] = st.pods[j], st.pods[i] })
		r.Shuffle(len(st.services), func(i, j int) { st.services[i], st.services[j] = st.services[j], st.services[i] })
		c := build(st)
		got, _ := channel.EncodeContent(&c)
		if string(got) != string(want) {
			t.Fatal("a different order of the same objects built different bytes")
		}
	}
	if _, err := channel.NewSnapshot(channel.Version{}, first); err != nil {
		t.Errorf("the built content does not validate: %v", err)
	}
}

// TestTrimKeepsWhatBuildReads: a pod through the informer's transform
// builds the same entry.
func TestTrimKeepsWhatBuildReads(t *testing.T) {
	p := pod(t, "shop", "a", "198.18.0.1", "fd00::1")
	p.Spec.InitContainers[0].Args = meshedSpec(t, "8081", true).InitContainers[0].Args
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	trimmed, err := trim(p.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	st := baseState()
	st.pods = []*corev1.Pod{p}
	want := build(st)
	st.pods = []*corev1.Pod{trimmed.(*corev1.Pod)}
	if got := build(st); !reflect.DeepEqual(got, want) || len(got.Pods) != 1 {
		t.Errorf("trimmed: %+v\nwhole:   %+v", got, want)
	}
	// The same for a proxy among the containers, as older injections put it.
	old := p.DeepCopy()
	c := old.Spec.InitContainers[1]
	c.RestartPolicy = nil
	old.Spec.InitContainers = old.Spec.InitContainers[:1]
	old.Spec.Containers = append(old.Spec.Containers, c)
	trimmed, _ = trim(old.DeepCopy())
	st.pods = []*corev1.Pod{trimmed.(*corev1.Pod)}
	if got := build(st); !reflect.DeepEqual(got, want) {
		t.Errorf("trimmed, proxy among the containers: %+v\nwant %+v", got, want)
	}
}

// testControllerID is the controller of the mesh installed in ns.
func testControllerID(t *testing.T, ns string) identity.ID {
	t.Helper()
	id, err := meshconfig.ControllerID(identity.DefaultTrustDomain, ns)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestBuildServicesOfMeshedPods: a namespace that is not enrolled but
// holds a pod meshed for this controller has its Services in the
// snapshot, so that callers reach that pod through them with mutual TLS.
func TestBuildServicesOfMeshedPods(t *testing.T) {
	st := baseState()
	st.controllerID = testControllerID(t, "mesh-system")
	st.pods = []*corev1.Pod{pod(t, "plain", "a", "198.18.0.5")}
	st.services = []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "plain", Name: "stars"},
		Spec: corev1.ServiceSpec{ClusterIP: "198.19.0.9", Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}}
	st.slices = []*discoveryv1.EndpointSlice{slice("plain", "stars", "stars-1", discoveryv1.AddressTypeIPv4,
		[]discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}}, endpoint(ptr.To(true), "198.18.0.5"))}
	got := build(st).Services
	if len(got) != 1 || got[0].Name != "plain/stars" || len(got[0].Ports) != 1 || len(got[0].Ports[0].Endpoints) != 1 {
		t.Errorf("got %+v, want plain/stars with its one endpoint", got)
	}
	st.controllerID = identity.ID{}
	if got := build(st).Services; len(got) != 0 {
		t.Errorf("without the controller's identity: %+v, want none", got)
	}
}
