package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/syncbuf"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxy/admin"
	"github.com/meshctl/meshctl/pkg/proxy/tap"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig/wire"
	"github.com/meshctl/meshctl/pkg/tapcli"
)

// tapFixture is a proxy's admin server with its tap, in this process on
// loopback, reached through the real API server's port-forward and the
// stand-in kubelet, and a namespace whose pods run on that kubelet's node.
type tapFixture struct {
	tap  *tap.Tap
	ns   string
	node string
}

func newTapFixture(t *testing.T) *tapFixture {
	t.Helper()
	if env.External {
		t.Fatal("this test registers a kubelet of its own; run it against the test API server, not " + testenv.EnvKubeconfig)
	}
	tp := &tap.Tap{Self: store}
	srv := httptest.NewServer((&admin.Server{Tap: tp}).Handler())
	t.Cleanup(srv.Close)
	kubelet := startPortForwardKubelet(t, map[string]string{strconv.Itoa(wire.AdminPort): strings.TrimPrefix(srv.URL, "http://")})
	return &tapFixture{tap: tp, ns: env.Namespace(t, nil), node: kubelet.Node(t)}
}

// deploymentPod creates a Running pod of Deployment deploy (through a
// ReplicaSet, as the Deployment controller names it), meshed or not.
func (f *tapFixture) deploymentPod(t *testing.T, deploy string, meshed bool) string {
	t.Helper()
	ctx := testenv.Context(t)
	const hash = "5d8f7c9b4"
	yes := true
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: testenv.UniqueName(deploy), Namespace: f.ns, Labels: map[string]string{"pod-template-hash": hash},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: deploy + "-" + hash, UID: "u1", Controller: &yes}},
		},
		Spec: corev1.PodSpec{NodeName: f.node, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}
	if meshed {
		c, err := proxyconfig.New(meshconfig.DefaultSpec())
		if err != nil {
			t.Fatal(err)
		}
		pod.Spec.InitContainers = []corev1.Container{c.NativeSidecarContainer()}
	}
	pods := env.Clients.Kube.CoreV1().Pods(f.ns)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return created.Name
}

// running is meshctl running in this process until ctx ends or it returns.
type running struct {
	stdout, stderr *syncbuf.Buffer
	cancel         func()
	code           chan int
}

func startMeshctl(t *testing.T, envVars map[string]string, args string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, cancel: cancel, code: make(chan int, 1)}
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: r.stdout, ErrOut: r.stderr}
	lookup := func(k string) (string, bool) { v, ok := envVars[k]; return v, ok }
	go func() { r.code <- run(ctx, strings.Fields(args), streams, lookup) }()
	t.Cleanup(func() {
		cancel()
		<-r.code
	})
	return r
}

// wait returns meshctl's exit code, failing the test after 60 s.
func (r *running) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.code:
		r.code <- code // for Cleanup
		return code
	case <-time.After(60 * time.Second):
		t.Fatalf("meshctl has not ended after 60s; stdout:\n%s\nstderr:\n%s", r.stdout.String(), r.stderr.String())
		return 0
	}
}

// listening waits until the tap has a listener (meshctl's stream is
// open), failing after 60 s.
func (f *tapFixture) listening(t *testing.T, r *running) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f.tap.Listening() {
		select {
		case code := <-r.code:
			r.code <- code
			t.Fatalf("meshctl ended (%d) before it listened; stderr:\n%s", code, r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("meshctl does not listen after 60s; stderr:\n%s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	buyer = "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer"
	store = "spiffe://cluster.local/ns/bookstore/sa/bookstore"
)

func (f *tapFixture) publish(path string, status int, mtls bool) {
	e := tap.Event{Time: time.Now(), Direction: tap.Inbound, Method: "GET", Authority: "bookstore.bookstore:14001", Path: path,
		Status: status, Latency: 1500 * time.Microsecond, TLS: mtls}
	if mtls {
		e.Source, e.Destination = buyer, f.tap.Self
	}
	f.tap.Publish(e)
}

// TestTapThroughPortForward runs tap against a proxy's admin server in
// this process, reached as in a cluster: the real API server's
// port-forward to the node's kubelet, which dials it on loopback.
func TestTapThroughPortForward(t *testing.T) {
	f := newTapFixture(t)
	pod := f.deploymentPod(t, "bookstore", true)
	plain := f.deploymentPod(t, "bookstore", false)
	f.deploymentPod(t, "bookstore-v2", true) // another Deployment: not listened to

	r := startMeshctl(t, kubeEnv(), "tap deploy/bookstore -n "+f.ns+" --max 3 -o json")
	f.listening(t, r)
	f.publish("/api/buy", 200, true)
	f.publish("/api/buy", 500, false)
	f.publish("/\x1b[2J", 404, true)
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr.String())
	}
	var got []tapcli.Request
	for line := range strings.Lines(r.stdout.String()) {
		var req tapcli.Request
		if err := json.Unmarshal([]byte(line), &req); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		got = append(got, req)
	}
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3:\n%s", len(got), r.stdout.String())
	}
	if g := got[0]; g.Pod != pod || g.Namespace != f.ns || g.Source != buyer || g.Destination != store || !g.TLS || g.Path != "/api/buy" || g.Status != 200 || g.LatencyMs != 1.5 {
		t.Errorf("the first request: %+v", g)
	}
	if g := got[1]; g.Source != "" || g.Destination != "" || g.TLS || g.Status != 500 {
		t.Errorf("the plain-text request: %+v", g)
	}
	if want := "pod/" + plain + " is not meshed: left out\n"; !strings.Contains(r.stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, r.stderr.String())
	}
	// The streams were closed: the proxy's place is free again.
	waitNotListening(t, f.tap)
}

func waitNotListening(t *testing.T, tp *tap.Tap) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for tp.Listening() {
		if time.Now().After(deadline) {
			t.Fatal("the proxy still has a listener 30s after meshctl ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The text form escapes what a caller put in the path, so that it cannot
// reach the terminal as a control sequence; -o wide names whole
// identities.
func TestTapTextEscapes(t *testing.T) {
	f := newTapFixture(t)
	pod := f.deploymentPod(t, "bookstore", true)
	for _, c := range []struct{ args, want string }{
		{"", "pod=" + pod + " dir=inbound method=GET authority=bookstore.bookstore:14001 path=\"/\\x1b[2J\\u202e\" status=200 latency=1.500ms src=bookbuyer/bookbuyer dst=bookstore/bookstore tls=true\n"},
		{" -o wide", " namespace=" + f.ns + " pod=" + pod + " dir=inbound method=GET authority=bookstore.bookstore:14001 path=\"/\\x1b[2J\\u202e\" status=200 latency=1.500ms src=" + buyer + " dst=" + store + " tls=true\n"},
	} {
		r := startMeshctl(t, kubeEnv(), "tap pod/"+pod+" -n "+f.ns+" --max 1"+c.args)
		f.listening(t, r)
		f.publish("/\x1b[2J\u202e", 200, true)
		if code := r.wait(t); code != 0 || !strings.HasSuffix(r.stdout.String(), c.want) || strings.ContainsAny(r.stdout.String(), "\x1b\u202e") {
			t.Errorf("tap%s: exit %d, stdout %q, want it to end with %q", c.args, code, r.stdout.String(), c.want)
		}
		waitNotListening(t, f.tap)
	}
}

// Ctrl-C (the context main cancels on SIGINT) ends tap and top with exit
// 0 and closes their streams.
func TestTapAndTopInterrupted(t *testing.T) {
	f := newTapFixture(t)
	f.deploymentPod(t, "bookstore", true)
	for _, cmd := range []string{"tap", "top"} {
		r := startMeshctl(t, kubeEnv(), cmd+" deploy/bookstore -n "+f.ns)
		f.listening(t, r)
		f.publish("/api/buy", 200, true)
		if cmd == "tap" {
			for !strings.Contains(r.stdout.String(), "path=/api/buy") {
				time.Sleep(10 * time.Millisecond)
			}
		}
		r.cancel()
		if code := r.wait(t); code != 0 {
			t.Errorf("%s interrupted: exit %d; stderr:\n%s", cmd, code, r.stderr.String())
		}
		// Whether top had counted the request when interrupted is a
		// race; TestTopSnapshot checks its counts.
		if cmd == "top" && (!strings.Contains(r.stdout.String(), "\nDIR   SOURCE   DESTINATION   METHOD   PATH   COUNT   SUCCESS   BEST   WORST   LAST\n") ||
			strings.Contains(r.stdout.String(), "\x1b")) {
			t.Errorf("top's last snapshot, without control codes on a pipe:\n%q", r.stdout.String())
		}
		waitNotListening(t, f.tap)
	}
}

func TestTopSnapshot(t *testing.T) {
	f := newTapFixture(t)
	f.deploymentPod(t, "bookstore", true)
	r := startMeshctl(t, kubeEnv(), "top ns/"+f.ns+" --max 4 -o json")
	f.listening(t, r)
	f.publish("/api/buy", 200, true)
	f.publish("/api/buy", 503, true)
	f.publish("/api/books", 200, true)
	f.publish("/api/buy", 200, true)
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, r.stderr.String())
	}
	var s tapcli.Snapshot
	if err := json.Unmarshal([]byte(r.stdout.String()), &s); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout.String())
	}
	want := []tapcli.SnapshotRow{
		{Direction: "inbound", Source: "bookbuyer/bookbuyer", Destination: "bookstore/bookstore", Method: "GET", Path: "/api/buy", Count: 3, SuccessRate: 2.0 / 3, BestMs: 1.5, WorstMs: 1.5, LastMs: 1.5},
		{Direction: "inbound", Source: "bookbuyer/bookbuyer", Destination: "bookstore/bookstore", Method: "GET", Path: "/api/books", Count: 1, SuccessRate: 1, BestMs: 1.5, WorstMs: 1.5, LastMs: 1.5},
	}
	if s.Requests != 4 || len(s.Rows) != 2 || s.Rows[0] != want[0] || s.Rows[1] != want[1] {
		t.Errorf("snapshot %+v, want 4 requests in rows %+v", s, want)
	}
}

func TestTapRefusals(t *testing.T) {
	f := newTapFixture(t)
	pod := f.deploymentPod(t, "bookstore", true)
	// A proxy that serves as many listeners as it may.
	for range tap.MaxListeners {
		l, err := f.tap.Listen(tap.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
	}
	res := executeCommand(t, kubeEnv(), "tap pod/"+pod+" -n "+f.ns)
	if res.code != 1 || !strings.Contains(res.stderr, "its proxy already serves 8 tap listeners, as many as it may; try again once one has ended") {
		t.Errorf("a proxy at capacity: %+v", res)
	}

	// A user who may read pods but not port-forward to them, and one
	// who may not list them.
	_, kubeconfig := env.User(t, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}})
	for _, cmd := range []string{"tap", "top"} {
		res = executeCommand(t, map[string]string{"MESHCTL_KUBECONFIG": kubeconfig}, cmd+" deploy/bookstore -n "+f.ns)
		want := `forbidden: you may not create pods/portforward in namespace "` + f.ns + `"; ask a cluster administrator for RBAC permission to create pods/portforward`
		if res.code != 1 || res.stdout != "" || !strings.Contains(res.stderr, want) {
			t.Errorf("%s without pods/portforward: %+v", cmd, res)
		}
	}
	_, kubeconfig = env.User(t, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}})
	res = executeCommand(t, map[string]string{"MESHCTL_KUBECONFIG": kubeconfig}, "tap ns/"+f.ns)
	if res.code != 1 || !strings.Contains(res.stderr, `forbidden: you may not list pods in namespace "`+f.ns+`"`) {
		t.Errorf("tap without list pods: %+v", res)
	}
	res = executeCommand(t, kubeEnv(), "tap deploy/nothing -n "+f.ns)
	if res.code != 1 || !strings.Contains(res.stderr, "deploy/nothing in namespace \""+f.ns+"\": no meshed, running pod to listen to: it has no pods") {
		t.Errorf("tap of a Deployment without pods: %+v", res)
	}
}

func TestTapUsageErrors(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"tap bookstore", `"bookstore" is not a target: use deploy/NAME, pod/NAME or ns/NAME`},
		{"tap svc/bookstore", `"svc/bookstore" is not a target`},
		{"top deploy/", `"deploy/" is not a target`},
		{"tap deploy/a --max-rps -1", "--max-rps -1: from 0 (no bound) to 1000000"},
		{"tap deploy/a --max -1", "--max -1"},
		{"top deploy/a --path books", "a path prefix starts with /"},
		{"tap deploy/a --method G(T", "a method is an HTTP token"},
		{"tap deploy/a -o yaml", `invalid output format "yaml": must be one of text, wide, json`},
		{"top deploy/a -o wide", `invalid output format "wide": must be one of table, json`},
	} {
		res := executeCommand(t, nil, c.args)
		if res.code != 2 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%s: %+v, want exit 2 and %q", c.args, res, c.want)
		}
	}
}

// The real mesh-proxy serves its tap on loopback, and refuses it from the
// pod network, which can reach the admin port.
func TestTapOnlyFromLoopback(t *testing.T) {
	proxy := startMeshProxy(t)
	for _, c := range []struct {
		addr string
		code int
	}{{proxy.admin, http.StatusOK}, {nonLoopback(t, proxy.admin), http.StatusForbidden}} {
		resp, err := http.Get("http://" + c.addr + wire.TapPath)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("GET %s from %s: %s, want %d", wire.TapPath, c.addr, resp.Status, c.code)
		}
	}
}
