package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/pfkubelet"
	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	proxychannel "github.com/meshctl/meshctl/pkg/proxy/channel"
	"github.com/meshctl/meshctl/pkg/proxy/credentials"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// routedKubelet is a stand-in kubelet that forwards each pod's admin port
// to an address of its own.
type routedKubelet struct {
	*pfkubelet.Kubelet
	node   string
	admins pfkubelet.Admins
}

func startRoutedKubelet(t *testing.T) *routedKubelet {
	t.Helper()
	k := &routedKubelet{}
	k.Kubelet = pfkubelet.Start(t, k.admins.Route)
	k.node = k.Node(t, env)
	return k
}

// fleetPod creates a pod on the kubelet's node whose proxy, of image and
// talking to the controller ctrl, answers on admin; phase is its phase.
func (k *routedKubelet) fleetPod(t *testing.T, ns, name, image, version string, ctrl identity.ID, phase corev1.PodPhase, admin string) {
	t.Helper()
	ctx := testenv.Context(t)
	pc, err := proxyconfig.New(meshconfig.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	pc.Image = image
	proxy := pc.NativeSidecarContainer()
	run := pc.Run()
	run.Identity = &wire.Identity{ControllerAddress: "mesh-controller.x.svc:9444", ControllerID: ctrl}
	proxy.Args = run.Args()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{meshconfig.LabelProxyVersion: version}},
		Spec: corev1.PodSpec{NodeName: k.node, InitContainers: []corev1.Container{proxy},
			Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	pods := env.Clients.Kube.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	created.Status.Phase = phase
	created.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: proxyconfig.ProxyContainerName, Ready: phase == corev1.PodRunning}}
	if _, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pod %s: status: %v", name, err)
	}
	k.admins.Set(ns, name, admin)
}

// TestProxyStatusFleet: `meshctl proxy status` without a pod, through real
// port-forwards: a row per proxy of this mesh, its image judged against
// the MeshConfig's, and a proxy that cannot be asked (a real mesh-proxy
// without identity, whose /status is off; a pod not running) a row that
// says why; pods without a proxy or with another mesh's are left out.
func TestProxyStatusFleet(t *testing.T) {
	if env.External {
		t.Fatal("this test registers a kubelet of its own; run it against the test API server, not " + testenv.EnvKubeconfig)
	}
	meshconfigtest.InstallCRDs(t, env.Config)
	meshNS := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, meshconfig.DefaultMeshName, meshNS)
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, meshNS)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := meshconfig.ControllerID(identity.DefaultTrustDomain, "other-mesh")
	k := startRoutedKubelet(t)
	ns := env.Namespace(t, nil)
	// Whole hours and a half: "23h from now" while the test runs.
	expires := time.Now().Add(23*time.Hour + 30*time.Minute)
	// web-1 follows the MeshConfig's live settings; web-2 older ones.
	mc, err := meshconfig.Get(testenv.Context(t), env.Clients.Dynamic, meshNS)
	if err != nil {
		t.Fatal(err)
	}
	live, err := proxyconfig.LiveSettings(mc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	older := live
	older.EnableEgress = !live.EnableEgress
	status := func(sa string, connected bool, lastErr string) func() any {
		settings := &admin.SettingsStatus{Digest: live.Digest()}
		if !connected {
			settings = &admin.SettingsStatus{Digest: older.Digest()}
		}
		return func() any {
			return admin.Status{
				Settings: settings,
				Identity: &credentials.Status{ID: "spiffe://cluster.local/ns/" + ns + "/sa/" + sa, Certificate: &credentials.CertificateStatus{Serial: "5f", NotAfter: expires}},
				Channel: &proxychannel.Status{Controller: "mesh-controller:9444", Connected: connected, LastError: lastErr,
					Version: channel.Version{Hash: "sha256:4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce"}},
			}
		}
	}
	current := proxyconfig.DefaultImage()
	k.fleetPod(t, ns, "web-1", current, "v0.4.0", ctrl, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{Status: status("web", true, "")}).Addr)
	k.fleetPod(t, ns, "web-2", proxyconfig.ImageRepository+":v0.0.1", "v0.0.1", ctrl, corev1.PodRunning,
		proxytest.StartAdmin(t, proxytest.Options{Status: status("web", false, "dial tcp 10.96.0.9:9444: connection refused")}).Addr)
	k.fleetPod(t, ns, "no-status", current, "v0.4.0", ctrl, corev1.PodRunning, proxytest.StartProcess(t).Admin)
	k.fleetPod(t, ns, "starting", current, "v0.4.0", ctrl, corev1.PodPending, "")
	k.fleetPod(t, ns, "theirs", current, "v0.4.0", other, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{Status: status("x", true, "")}).Addr)
	meshedPod(t, ns, k.node, false)

	before := k.Forwards()
	r := executeCommand(t, kubeEnv(), "proxy status -n "+ns+" --mesh-namespace "+meshNS)
	forwards := 0
	for pod, n := range k.Forwards() {
		forwards += n - before[pod]
	}
	if forwards != 3 {
		t.Errorf("%d port-forwards, want 3: one per running proxy of this mesh", forwards)
	}
	// The namespaces' random suffixes, written the same length so that
	// the table's columns stay put.
	r.stdout = strings.ReplaceAll(r.stdout, ns, ns[:len(ns)-6]+"golden")
	r.stderr = strings.ReplaceAll(strings.ReplaceAll(r.stderr, current, "CURRENT"), meshNS, "MESH")
	assertGolden(t, "proxy-status-fleet", r)

	r = executeCommand(t, kubeEnv(), "proxy status -o json -n "+ns+" --mesh-namespace "+meshNS)
	var fleet proxyadmin.Fleet
	if err := json.Unmarshal([]byte(r.stdout), &fleet); r.code != 0 || err != nil || len(fleet.Proxies) != 4 {
		t.Fatalf("proxy status -o json: %+v (%v)", r, err)
	}
	if p := fleet.Proxies[3]; p.Pod != "web-2" || p.ImageState != proxyadmin.ImageOutdated || p.ExpectedImage != current || p.Channel == nil || p.Channel.Connected {
		t.Errorf("web-2 in JSON: %+v", p)
	}

	// Without the permission to read the MeshConfig: every mesh's proxy,
	// images not judged.
	_, kubeconfig := env.User(t, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create"}})
	r = executeCommand(t, map[string]string{"MESHCTL_KUBECONFIG": kubeconfig}, "proxy status -o json -n "+ns+" --mesh-namespace "+meshNS)
	if err := json.Unmarshal([]byte(r.stdout), &fleet); r.code != 0 || err != nil || len(fleet.Proxies) != 5 || fleet.Proxies[0].ImageState != proxyadmin.ImageUnknown ||
		!strings.Contains(r.stderr, "Warning: images are not compared, and proxies of every mesh are shown: ") {
		t.Errorf("proxy status without get meshconfigs: %+v (%v)", r, err)
	}
}
