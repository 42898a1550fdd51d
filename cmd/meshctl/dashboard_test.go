package main

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/pkg/dashboard"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// TestDashboardCommand runs `meshctl dashboard` as a user does, with the
// real clock, against the test API server and proxies behind real
// port-forwards: the URL on stderr, the JSON the page reads, each proxy
// port-forwarded to once however many readings, a request addressed to
// another name refused, and a clean stop on cancel.
func TestDashboardCommand(t *testing.T) {
	k := startRoutedKubelet(t)
	ns := "dash-" + strings.TrimPrefix(k.node, "node-")
	env.CreateNamespace(t, ns, nil)
	ctrl, err := meshconfig.ControllerID(identity.DefaultTrustDomain, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	// Between two readings store-1 counts 6 requests from web and one
	// answered 500.
	traffic := func(m *telemetry.Metrics, _ int) {
		for range 6 {
			m.ObserveRequest("inbound", "GET", 200, "shop/web", true, 2*time.Millisecond)
		}
		m.ObserveRequest("inbound", "GET", 500, "shop/web", true, 40*time.Millisecond)
	}
	k.fleetPod(t, ns, "store-1", proxyconfig.DefaultImage(), "v0.4.0", ctrl, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{Traffic: traffic}).Addr)
	k.fleetPod(t, ns, "idle-1", proxyconfig.DefaultImage(), "v0.4.0", ctrl, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{}).Addr)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncbuf.Buffer
	lookup := func(k string) (string, bool) { v, ok := kubeEnv()[k]; return v, ok }
	code := make(chan int, 1)
	go func() {
		streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr}
		code <- run(ctx, []string{"dashboard", "-n", ns, "--port", "0", "--browser=false", "--interval", "2s"}, streams, lookup)
	}()
	serving := regexp.MustCompile(`^meshctl dashboard: serving (http://127\.0\.0\.1:[0-9]+/) \(Ctrl-C to stop\)\n$`)
	var url string
	for url == "" {
		select {
		case c := <-code:
			t.Fatalf("dashboard exited %d: %s", c, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
	}

	// Three readings, 2 s apart.
	var st dashboard.State
	for st.Generation < 3 {
		resp, err := http.Get(url + strings.TrimPrefix(dashboard.StatePath, "/"))
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.Scope != "namespace "+ns || st.Proxies != 2 || len(st.Unreadable) != 0 || st.Error != "" || len(st.Nodes) != 3 || len(st.Edges) != 1 {
		t.Fatalf("state: %+v", st)
	}
	e := st.Edges[0]
	if e.Source != "shop/serviceaccount/web" || e.Target != ns+"/pod/store-1" || e.Requests != 7 || e.SuccessRate == nil || *e.SuccessRate != 6.0/7 || e.RequestsPerSecond <= 0 {
		t.Errorf("edge %+v", e)
	}
	for pod, n := range k.Forwards() {
		if n != 1 {
			t.Errorf("%s: port-forwarded %d times for 3 readings, want once", pod, n)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, url+strings.TrimPrefix(dashboard.StatePath, "/"), nil)
	req.Host = "evil.example:" + strings.TrimSuffix(url[strings.LastIndex(url, ":")+1:], "/")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("a request for evil.example: %v %v", resp, err)
	}

	cancel()
	if c := <-code; c != 0 || stdout.String() != "" {
		t.Errorf("after cancel: exit %d, stdout %q, stderr %q", c, stdout.String(), stderr.String())
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("%s still answers after the command ended", url)
	}
}

func TestDashboardUsageErrors(t *testing.T) {
	for _, tc := range []struct{ name, args string }{
		{"dashboard-help", "dashboard --help"},
		{"dashboard-bad-interval", "dashboard --interval 1s"},
		{"dashboard-bad-port", "dashboard --port 70000"},
		{"dashboard-bad-address", "dashboard --address example.com"},
		{"dashboard-args", "dashboard bookstore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertGolden(t, tc.name, executeCommand(t, nil, tc.args))
		})
	}
}
