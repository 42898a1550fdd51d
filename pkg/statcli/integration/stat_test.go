package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/meshctl/meshctl/internal/apicount"
	"github.com/meshctl/meshctl/internal/clocktest"
	"github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/cli"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/statcli"
)

// webTraffic is what each web proxy carries between two readings: from
// api over mutual TLS, 10 requests in 0.8 ms, 8 in 3 ms and 2 answered 503
// in 20 ms; from a caller without a proxy, 5 in 0.2 ms; web's own 7
// outbound requests; and from db, an opaque TCP connection of 100 bytes
// in and 300 out, besides the one it holds open from the start.
func webTraffic(ns string) func(*telemetry.Metrics, int) {
	return func(m *telemetry.Metrics, scrape int) {
		if scrape == 1 {
			m.TCPOpened("inbound", ns+"/db", true)
		}
		for range 10 {
			m.ObserveRequest("inbound", "GET", 200, ns+"/api", true, 800*time.Microsecond)
		}
		for range 8 {
			m.ObserveRequest("inbound", "GET", 200, ns+"/api", true, 3*time.Millisecond)
		}
		for range 2 {
			m.ObserveRequest("inbound", "POST", 503, ns+"/api", true, 20*time.Millisecond)
		}
		for range 5 {
			m.ObserveRequest("inbound", "GET", 200, "port/8080", false, 200*time.Microsecond)
		}
		for range 7 {
			m.ObserveRequest("outbound", "GET", 200, ns+"/db", true, time.Millisecond)
		}
		m.TCPOpened("inbound", ns+"/db", true)
		m.TCPClosed("inbound", ns+"/db", true, 100, 300)
	}
}

// dbTraffic: 4 requests from web in 1.5 ms.
func dbTraffic(ns string) func(*telemetry.Metrics, int) {
	return func(m *telemetry.Metrics, _ int) {
		for range 4 {
			m.ObserveRequest("inbound", "GET", 200, ns+"/web", true, 1500*time.Microsecond)
		}
	}
}

// shop is a namespace of deployments web (two scripted proxies and a real
// mesh-proxy process), api (a proxy with metrics off) and legacy (not
// meshed), statefulset db, and a meshed pod of no workload.
func shop(t *testing.T, c *cluster) string {
	ns := env.Namespace(t, nil)
	web := []string{
		proxytest.StartAdmin(t, proxytest.Options{Traffic: webTraffic(ns)}).Addr,
		proxytest.StartAdmin(t, proxytest.Options{Traffic: webTraffic(ns)}).Addr,
		proxytest.StartProcess(t).Admin,
	}
	c.deployment(ns, "web", "web", web...)
	c.deployment(ns, "api", "api", proxytest.StartAdmin(t, proxytest.Options{NoMetrics: true}).Addr)
	c.deployment(ns, "legacy", "", "", "")
	c.statefulSet(ns, "db", "db", proxytest.StartAdmin(t, proxytest.Options{Traffic: dbTraffic(ns)}).Addr)
	c.pod(ns, "bare", "api", nil, nil, idle(t))
	return ns
}

// stat runs `meshctl stat` with clients whose requests n counts, and a
// clock on which the window passes at once and exactly.
func stat(t *testing.T, clients *kube.Clients, o statcli.Options) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.IOStreams = genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}
	o.Clients = kube.Static(clients)
	if o.Window == 0 {
		o.Window = statcli.DefaultWindow
	}
	if o.Output == "" {
		o.Output = cli.FormatTable
	}
	if o.Clock == nil {
		o.Clock = clocktest.NewStepping(stepClock)
	}
	if err := o.Validate(); err != nil {
		return "", "", err
	}
	err = o.Run(testenv.Context(t))
	return out.String(), errOut.String(), err
}

// TestStat: the rows of each kind and their figures, worked by hand in
// pkg/statcli's unit tests for one web proxy (twice here, so counts
// double and percentiles stay), through real port-forwards; a proxy
// without metrics is named and its row has none; every meshed pod is
// port-forwarded to once per invocation.
func TestStat(t *testing.T) {
	c := newCluster(t)
	ns := shop(t, c)
	var n apicount.Counter
	clients := n.Clients(t, env.Config)
	// The namespace's random suffix, written the same length so that the
	// table's columns stay put.
	placeholder := ns[:len(ns)-6] + "golden"
	var doc strings.Builder
	for _, tc := range []struct {
		cmd string
		o   statcli.Options
	}{
		{"stat deploy", statcli.Options{Kind: statcli.KindDeployment}},
		{"stat deploy -o wide", statcli.Options{Kind: statcli.KindDeployment, Output: statcli.FormatWide}},
		{"stat deploy web --from deploy/api", statcli.Options{Kind: statcli.KindDeployment, Name: "web", From: "deploy/api"}},
		{"stat deploy --from ns/NS", statcli.Options{Kind: statcli.KindDeployment, From: "ns/" + ns}},
		{"stat deploy --to sts/db", statcli.Options{Kind: statcli.KindDeployment, To: "sts/db"}},
		{"stat sts", statcli.Options{Kind: statcli.KindStatefulSet}},
		{"stat pod -o wide", statcli.Options{Kind: statcli.KindPod, Output: statcli.FormatWide}},
		{"stat ns NS", statcli.Options{Kind: statcli.KindNamespace, Name: ns}},
	} {
		before := c.kubelet.Forwards()
		tc.o.Namespace = ns
		stdout, stderr, err := stat(t, clients, tc.o)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.cmd, err, stderr)
		}
		doc.WriteString("$ meshctl " + tc.cmd + "\n" + stdout + "\n")
		if !strings.HasPrefix(stderr, "Reading the metrics of ") || !strings.Contains(stderr, " twice, 10s apart (--window).\n") {
			t.Errorf("%s: stderr %q does not say what is read", tc.cmd, stderr)
		}
		if tc.o.To == "" && tc.o.Name == "" && tc.o.Kind != statcli.KindStatefulSet && !strings.Contains(stderr, `Warning: the proxy of pod "api-5d8f7c9b4-1" in namespace "`+ns+`" was not read: its proxy serves no metrics`) {
			t.Errorf("%s: stderr does not name the proxy without metrics:\n%s", tc.cmd, stderr)
		}
		for pod, k := range c.kubelet.Forwards() {
			if k-before[pod] > 1 {
				t.Errorf("%s: %d port-forwards to %s, want at most one", tc.cmd, k-before[pod], pod)
			}
		}
	}
	golden.AssertString(t, "testdata/stat.golden", strings.ReplaceAll(doc.String(), ns, placeholder))

	// JSON: the counts are the proxies', exactly.
	stdout, _, err := stat(t, clients, statcli.Options{Kind: statcli.KindDeployment, Namespace: ns, Output: cli.FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		WindowSeconds float64
		Rows          []statcli.Row
		Unreadable    []statcli.Unreadable
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	rows := map[string]statcli.Row{}
	for _, r := range res.Rows {
		rows[r.Name] = r
	}
	if web := rows["web"]; res.WindowSeconds != 10 || web.Stats == nil || web.Stats.Proxies != 3 || web.Stats.Requests != 50 || web.Stats.RequestsPerSecond != 5 ||
		web.Stats.SuccessRate == nil || *web.Stats.SuccessRate != 0.92 || web.MeshedPods != 3 || web.Identity != ns+"/web" {
		t.Errorf("web: %+v %+v", web, web.Stats)
	}
	if legacy := rows["legacy"]; legacy.Stats != nil || legacy.MeshedPods != 0 || legacy.Pods != 2 || legacy.Identity != ns+"/default" {
		t.Errorf("legacy, not meshed: %+v", legacy)
	}
	if len(res.Unreadable) != 1 || res.Unreadable[0].Pod != "api-5d8f7c9b4-1" {
		t.Errorf("unreadable: %+v", res.Unreadable)
	}
}

// TestStatCost: one List per resource kind, a Get per --from or --to
// workload, and one port-forward per meshed pod per invocation, whatever
// the number of namespaces and pods.
func TestStatCost(t *testing.T) {
	c := newCluster(t)
	var namespaces []string
	for range 3 {
		ns := env.Namespace(t, nil)
		namespaces = append(namespaces, ns)
		c.deployment(ns, "web", "web", idle(t), idle(t))
		c.deployment(ns, "api", "api", idle(t), "")
	}
	var n apicount.Counter
	clients := n.Clients(t, env.Config)
	for _, tc := range []struct {
		cmd      string
		o        statcli.Options
		requests map[string]int
		forwards int
	}{
		{"stat deploy -A", statcli.Options{Kind: statcli.KindDeployment, AllNamespaces: true},
			map[string]int{"LIST pods": 1, "LIST deployments": 1, "LIST replicasets": 1}, 9},
		{"stat deploy -n NS --from deploy/api", statcli.Options{Kind: statcli.KindDeployment, Namespace: namespaces[0], From: "deploy/api"},
			map[string]int{"LIST pods": 1, "LIST deployments": 1, "LIST replicasets": 1, "GET deployments": 1}, 3},
		{"stat deploy -n NS --to deploy/web", statcli.Options{Kind: statcli.KindDeployment, Namespace: namespaces[0], To: "deploy/web"},
			map[string]int{"LIST pods": 2, "LIST deployments": 1, "LIST replicasets": 1, "GET deployments": 1}, 2},
		{"stat deploy -n NS --to deploy/api (one pod meshed, one not)", statcli.Options{Kind: statcli.KindDeployment, Namespace: namespaces[0], To: "deploy/api"},
			map[string]int{"LIST pods": 2, "LIST deployments": 1, "LIST replicasets": 1, "GET deployments": 1}, 1},
		{"stat pod -A", statcli.Options{Kind: statcli.KindPod, AllNamespaces: true}, map[string]int{"LIST pods": 1}, 9},
		{"stat sts -A", statcli.Options{Kind: statcli.KindStatefulSet, AllNamespaces: true}, map[string]int{"LIST pods": 1, "LIST statefulsets": 1}, 0},
		{"stat ns", statcli.Options{Kind: statcli.KindNamespace}, map[string]int{"LIST pods": 1, "LIST namespaces": 1}, 9},
	} {
		n.Reset()
		before := c.kubelet.Forwards()
		if _, stderr, err := stat(t, clients, tc.o); err != nil {
			t.Fatalf("%s: %v\n%s", tc.cmd, err, stderr)
		}
		got := n.Reset()
		forwards := 0
		for pod, k := range c.kubelet.Forwards() {
			if k-before[pod] > 1 {
				t.Errorf("%s: %d port-forwards to %s", tc.cmd, k-before[pod], pod)
			}
			forwards += k - before[pod]
		}
		if forwards != tc.forwards {
			t.Errorf("%s: %d port-forwards, want %d (one per meshed pod read)", tc.cmd, forwards, tc.forwards)
		}
		// The port-forwards' own requests are counted by the kubelet.
		for k := range got {
			if strings.HasSuffix(k, "pods/portforward") {
				delete(got, k)
			}
		}
		if !equal(got, tc.requests) {
			t.Errorf("%s: API requests %v, want %v", tc.cmd, got, tc.requests)
		}
	}
}

func equal(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestStatRefusals: a user who may list but not port-forward gets the rows,
// without figures, and each proxy named with the permission it lacks; one
// who may not list ReplicaSets is told so.
func TestStatRefusals(t *testing.T) {
	c := newCluster(t)
	ns := env.Namespace(t, nil)
	c.deployment(ns, "web", "web", idle(t))
	list := rbacv1.PolicyRule{APIGroups: []string{"", "apps"}, Resources: []string{"pods", "deployments", "replicasets"}, Verbs: []string{"get", "list"}}
	cfg, _ := env.User(t, list)
	clients, err := kube.NewClientsForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := stat(t, clients, statcli.Options{Kind: statcli.KindDeployment, Namespace: ns})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "web    1/1      -         -     ") {
		t.Errorf("the row without figures:\n%s", stdout)
	}
	want := `forbidden: you may not create pods/portforward in namespace "` + ns + `"`
	if !strings.Contains(stderr, `Warning: the proxy of pod "web-5d8f7c9b4-1" in namespace "`+ns+`" was not read: `) || !strings.Contains(stderr, want) {
		t.Errorf("stderr does not name the refused port-forward (%s):\n%s", want, stderr)
	}

	cfg, _ = env.User(t, rbacv1.PolicyRule{APIGroups: []string{"", "apps"}, Resources: []string{"pods", "deployments"}, Verbs: []string{"get", "list"}})
	if clients, err = kube.NewClientsForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	_, _, err = stat(t, clients, statcli.Options{Kind: statcli.KindDeployment, Namespace: ns})
	if err == nil || !strings.Contains(err.Error(), `listing replicasets, which own deployments' pods: forbidden: you may not list replicasets in namespace "`+ns+`"`) {
		t.Errorf("without list replicasets: %v", err)
	}
	_, _, err = stat(t, env.Clients, statcli.Options{Kind: statcli.KindDeployment, Namespace: ns, Name: "nope"})
	if err == nil || err.Error() != `deployment "nope" not found in namespace "`+ns+`"` {
		t.Errorf("a deployment that does not exist: %v", err)
	}
	_, _, err = stat(t, env.Clients, statcli.Options{Kind: statcli.KindDeployment, Namespace: ns, From: "deploy/nope"})
	if err == nil || !strings.Contains(err.Error(), `deployment/nope in namespace "`+ns+`": deployments.apps "nope" not found`) {
		t.Errorf("--from a deployment that does not exist: %v", err)
	}
	// A proxy that is not ours answers with escape sequences: the warning
	// shows them, escaped, and writes nothing to the terminal.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "\x1b]0;pwned\x07\x1b[2J\x1b[Hall is well", http.StatusInternalServerError)
	}))
	t.Cleanup(evil.Close)
	c.pod(ns, "evil", "web", nil, nil, strings.TrimPrefix(evil.URL, "http://"))
	_, stderr, err = stat(t, env.Clients, statcli.Options{Kind: statcli.KindPod, Namespace: ns, Name: "evil"})
	if err != nil || strings.ContainsAny(stderr, "\x1b\x07") || !strings.Contains(stderr, `500 Internal Server Error: \x1b]0;pwned\a\x1b[2J\x1b[Hall is well`) {
		t.Errorf("a proxy's answer reaches the terminal: %v\n%q", err, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := statcli.Options{Kind: statcli.KindDeployment, Namespace: ns, Window: time.Second, Output: cli.FormatTable, Clients: kube.Static(env.Clients),
		IOStreams: genericiooptions.IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	if err := o.Run(ctx); err == nil {
		t.Error("a cancelled stat succeeded")
	}
}
