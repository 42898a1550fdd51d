package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
)

// meshProxy is a real mesh-proxy process on this machine's loopback.
type meshProxy struct {
	admin string // its admin address
	log   *syncbuf.Buffer
}

// startMeshProxy builds mesh-proxy and runs it at log level info, with
// metrics, on free ports, until the test ends (proxytest.StartProcess).
func startMeshProxy(t *testing.T) *meshProxy {
	t.Helper()
	p := proxytest.StartProcess(t)
	return &meshProxy{admin: p.Admin, log: p.Log}
}

// meshedPod creates a Running pod on node whose spec carries the injected
// proxy, or none when meshed is false.
func meshedPod(t *testing.T, ns, node string, meshed bool) string {
	t.Helper()
	ctx := testenv.Context(t)
	name := testenv.UniqueName("app")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "app"}},
		},
	}
	if meshed {
		c, err := proxyconfig.New(meshconfig.DefaultSpec())
		if err != nil {
			t.Fatal(err)
		}
		pod.Spec.InitContainers = []corev1.Container{c.NativeSidecarContainer()}
	}
	pods := env.Clients.Kube.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", name, err)
	}
	created.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("pod %s: status: %v", name, err)
	}
	return name
}

// TestProxyCommandsThroughPortForward runs the proxy commands against a
// real mesh-proxy process, reached as in a cluster: client-go's
// port-forward to the real API server, which relays it to the node's
// kubelet, which dials the proxy's admin port on loopback.
func TestProxyCommandsThroughPortForward(t *testing.T) {
	if env.External {
		t.Fatal("this test registers a kubelet of its own; run it against the test API server, not " + testenv.EnvKubeconfig)
	}
	proxy := startMeshProxy(t)
	kubelet := startPortForwardKubelet(t, map[string]string{strconv.Itoa(wire.AdminPort): proxy.admin})
	node := kubelet.Node(t)
	ns := env.Namespace(t, nil)
	pod := meshedPod(t, ns, node, true)
	at := " -n " + ns + " " + pod

	r := executeCommand(t, kubeEnv(), "proxy config -o json"+at)
	var cfg wire.Run
	if err := json.Unmarshal([]byte(r.stdout), &cfg); r.code != 0 || err != nil || cfg.LogLevel != wire.LogInfo || !cfg.Metrics {
		t.Fatalf("proxy config -o json: %+v (%v)", r, err)
	}
	r = executeCommand(t, kubeEnv(), "proxy config"+at)
	if r.code != 0 || !strings.Contains(r.stdout, "LogLevel: info\n") {
		t.Errorf("proxy config: %+v", r)
	}

	r = executeCommand(t, kubeEnv(), "proxy stats"+at)
	if r.code != 0 || !strings.Contains(r.stdout, "# TYPE mesh_proxy_build_info gauge\n") {
		t.Errorf("proxy stats: %+v", r)
	}
	r = executeCommand(t, kubeEnv(), "proxy stats --filter ^mesh_proxy_build_info$"+at)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "# HELP mesh_proxy_build_info ") || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("proxy stats --filter: %+v", r)
	}
	r = executeCommand(t, kubeEnv(), "proxy stats -o json --filter build_info"+at)
	var stats proxyadmin.Stats
	if err := json.Unmarshal([]byte(r.stdout), &stats); r.code != 0 || err != nil || len(stats.Families) != 1 || stats.Families[0].Samples[0].Labels["version"] == "" {
		t.Errorf("proxy stats -o json: %+v (%v)", r, err)
	}
	r = executeCommand(t, kubeEnv(), "proxy stats --filter no_such_metric"+at)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, `matches "no_such_metric"`) {
		t.Errorf("proxy stats --filter with no match: %+v", r)
	}

	// The change goes through the port-forward, so it arrives from
	// loopback, and the proxy logs at debug until it reverts.
	r = executeCommand(t, kubeEnv(), "proxy log-level --for 5m"+at+" debug")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "pod/"+pod+" log level set to debug until ") || !strings.HasSuffix(r.stdout, "), then info\n") {
		t.Fatalf("proxy log-level debug: %+v", r)
	}
	if !strings.Contains(proxy.log.String(), `"msg":"proxy log level set","level":"debug","from":"info"`) {
		t.Errorf("the proxy did not log the change:\n%s", proxy.log.String())
	}
	r = executeCommand(t, kubeEnv(), "proxy log-level -o json"+at)
	var st admin.LogLevelState
	if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || st.Level != wire.LogDebug || st.Configured != wire.LogInfo || st.RevertAt == nil {
		t.Errorf("proxy log-level -o json: %+v (%v)", r, err)
	}
	r = executeCommand(t, kubeEnv(), "proxy log-level"+at+" info")
	if want := "pod/" + pod + " log level set to info (its configured level)\n"; r.code != 0 || r.stdout != want {
		t.Errorf("proxy log-level info: %+v, want %q", r, want)
	}

	// From the pod network rather than through the port-forward, the
	// change is refused.
	req, _ := http.NewRequest(http.MethodPut, "http://"+nonLoopback(t, proxy.admin)+admin.LogLevelPath, strings.NewReader(`{"level":"debug"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("PUT %s from a non-loopback address: %v %v, want 403", admin.LogLevelPath, resp, err)
	} else {
		resp.Body.Close()
	}
}

// nonLoopback is addr's port on one of this machine's addresses that is
// not loopback, as another pod would reach the proxy.
func nonLoopback(t *testing.T, addr string) string {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return net.JoinHostPort(n.IP.String(), port)
		}
	}
	t.Fatal("this machine has no IPv4 address but loopback; the refusal from the pod network needs one")
	return ""
}

func TestProxyCommandsRefusals(t *testing.T) {
	kubelet := startPortForwardKubelet(t, nil)
	node := kubelet.Node(t)
	ns := env.Namespace(t, nil)
	meshed, plain := meshedPod(t, ns, node, true), meshedPod(t, ns, node, false)
	for _, cmd := range []string{"config", "stats", "log-level", "status"} {
		t.Run(cmd, func(t *testing.T) {
			r := executeCommand(t, kubeEnv(), "proxy "+cmd+" -n "+ns+" no-such-pod")
			if want := "Error: pod \"no-such-pod\" not found in namespace \"" + ns + "\"\n"; r.code != 1 || r.stderr != want {
				t.Errorf("a missing pod: %+v, want exit 1 and %q", r, want)
			}
			r = executeCommand(t, kubeEnv(), "proxy "+cmd+" -n "+ns+" "+plain)
			if r.code != 1 || !strings.Contains(r.stderr, proxyadmin.ErrNotMeshed.Error()+"; enrol its namespace") {
				t.Errorf("a pod without a proxy: %+v", r)
			}
		})
	}

	// A user who may read pods but not port-forward to them.
	_, kubeconfig := env.User(t, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}})
	for _, cmd := range []string{"config", "stats", "log-level"} {
		r := executeCommand(t, map[string]string{"MESHCTL_KUBECONFIG": kubeconfig}, "proxy "+cmd+" -n "+ns+" "+meshed)
		want := `forbidden: you may not create pods/portforward in namespace "` + ns + `"; ask a cluster administrator for RBAC permission to create pods/portforward`
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, want) {
			t.Errorf("proxy %s without pods/portforward: %+v", cmd, r)
		}
	}
	// And one who may not even read them.
	_, kubeconfig = env.User(t, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}})
	r := executeCommand(t, map[string]string{"MESHCTL_KUBECONFIG": kubeconfig}, "proxy stats -n "+ns+" "+meshed)
	if r.code != 1 || !strings.Contains(r.stderr, `forbidden: you may not get pods in namespace "`+ns+`"`) {
		t.Errorf("proxy stats without get pods: %+v", r)
	}
}

func TestProxyUsageErrors(t *testing.T) {
	for _, tc := range []struct{ name, args string }{
		{"proxy-config-help", "proxy config --help"},
		{"proxy-stats-help", "proxy stats --help"},
		{"proxy-log-level-help", "proxy log-level --help"},
		{"proxy-config-no-pod", "proxy config"},
		{"proxy-config-bad-output", "proxy config p -o table"},
		{"proxy-stats-bad-filter", "proxy stats p --filter a("},
		{"proxy-log-level-bad-level", "proxy log-level p trace"},
		{"proxy-log-level-too-long", "proxy log-level p debug --for 2h"},
		{"proxy-log-level-too-many-args", "proxy log-level p debug 10m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertGolden(t, tc.name, executeCommand(t, nil, tc.args))
		})
	}
}

// A proxy from before run-time log levels answers 404; the error says
// what to do instead.
func TestProxyLogLevelOlderProxy(t *testing.T) {
	older := httptest.NewServer((&admin.Server{Config: wire.Run{LogLevel: wire.LogInfo}}).Handler())
	t.Cleanup(older.Close)
	kubelet := startPortForwardKubelet(t, map[string]string{strconv.Itoa(wire.AdminPort): strings.TrimPrefix(older.URL, "http://")})
	ns := env.Namespace(t, nil)
	pod := meshedPod(t, ns, kubelet.Node(t), true)
	r := executeCommand(t, kubeEnv(), "proxy log-level -n "+ns+" "+pod+" debug")
	if r.code != 1 || !strings.Contains(r.stderr, "404 Not Found") || !strings.Contains(r.stderr, "the proxy predates run-time log levels: set the pod's "+proxyconfig.AnnotationProxyLogLevel+" annotation") {
		t.Errorf("log-level against an older proxy: %+v", r)
	}
}
