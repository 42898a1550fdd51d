package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/statcli"
)

// TestStatCommand runs `meshctl stat` as a user does, with the real
// clock: the proxies are read twice through real port-forwards, and the
// counts are exactly the requests the proxies counted in between.
func TestStatCommand(t *testing.T) {
	k := startRoutedKubelet(t)
	ns := "stat-" + strings.TrimPrefix(k.node, "node-")
	env.CreateNamespace(t, ns, nil)
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	traffic := func(m *telemetry.Metrics, _ int) {
		for range 6 {
			m.ObserveRequest("inbound", "GET", 200, "shop/web", true, 2*time.Millisecond)
		}
		m.ObserveRequest("inbound", "GET", 500, "shop/api", true, 40*time.Millisecond)
	}
	k.fleetPod(t, ns, "store-1", proxyconfig.DefaultImage(), "v0.4.0", ctrl, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{Traffic: traffic}).Addr)
	k.fleetPod(t, ns, "store-2", proxyconfig.DefaultImage(), "v0.4.0", ctrl, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{Traffic: traffic}).Addr)

	r := executeCommand(t, kubeEnv(), "stat ns "+ns+" --window 1s -o json")
	var res struct {
		WindowSeconds float64
		Rows          []statcli.Row
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); r.code != 0 || err != nil || len(res.Rows) != 1 {
		t.Fatalf("stat ns -o json: %+v (%v)", r, err)
	}
	row := res.Rows[0]
	if s := row.Stats; res.WindowSeconds != 1 || row.Name != ns || row.MeshedPods != 2 || s == nil || s.Proxies != 2 || s.Requests != 14 ||
		s.SuccessRate == nil || *s.SuccessRate != 12.0/14 || s.RequestsPerSecond <= 0 || s.RequestsPerSecond > 14 {
		t.Errorf("stat ns: %+v %+v", row, row.Stats)
	}
	if want := "Reading the metrics of 2 proxies twice, 1s apart (--window).\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}

	r = executeCommand(t, kubeEnv(), "stat pod -n "+ns+" --window 1s --from shop/api")
	if lines := strings.Split(r.stdout, "\n"); r.code != 0 || len(lines) != 4 || !strings.Contains(lines[1], "store-1   1/1      0.00%     ") {
		t.Errorf("stat pod --from shop/api: %+v", r)
	}
}

func TestStatUsageErrors(t *testing.T) {
	for _, tc := range []struct{ name, args string }{
		{"stat-help", "stat --help"},
		{"proxy-status-help", "proxy status --help"},
		{"stat-no-kind", "stat"},
		{"stat-bad-kind", "stat svc"},
		{"stat-bad-window", "stat deploy --window 10m"},
		{"stat-from-and-to", "stat deploy --from a/b --to c/d"},
		{"stat-bad-from", "stat deploy --from shop/svc/web"},
		{"stat-named-in-all", "stat deploy web -A"},
		{"stat-bad-output", "stat deploy -o text"},
		{"proxy-status-pod-in-all", "proxy status -A web-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertGolden(t, tc.name, executeCommand(t, nil, tc.args))
		})
	}
}
