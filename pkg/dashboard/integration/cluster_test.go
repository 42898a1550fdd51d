// Package integration_test holds the dashboard's Cluster source to a real
// API server, with real port-forwards through it (the stand-in kubelet of
// internal/pfkubelet) to proxies on this machine, a real mesh-proxy
// process among them: the workloads of every kind it finds, what the
// graph draws from its readings, and what it costs the API server from
// one reading to the next.
package integration_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/meshctl/meshctl/internal/apicount"
	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/pfkubelet"
	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/dashboard"
	"github.com/meshctl/meshctl/pkg/proxy/telemetry"
	"github.com/meshctl/meshctl/pkg/proxyadmin"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// cluster is the test's pods, routed by the kubelet to admin ports.
type cluster struct {
	t       *testing.T
	kubelet *pfkubelet.Kubelet
	node    string
	admins  pfkubelet.Admins
}

func newCluster(t *testing.T) *cluster {
	if env.External {
		t.Fatal("these tests register a kubelet of their own; run them against the test API server, not " + testenv.EnvKubeconfig)
	}
	c := &cluster{t: t}
	c.kubelet = pfkubelet.Start(t, c.admins.Route)
	c.node = c.kubelet.Node(t, env)
	return c
}

// owner creates obj's controller of kind (a Deployment's ReplicaSet is
// made too) and returns the reference its pods carry.
func (c *cluster) owner(ns, kind, name, sa string) *metav1.OwnerReference {
	c.t.Helper()
	ctx := testenv.Context(c.t)
	apps := env.Clients.Kube.AppsV1()
	labels := map[string]string{"app": name}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: proxytest.AppSpec(sa)}
	meta := metav1.ObjectMeta{Name: name}
	var uid types.UID
	var err error
	switch kind {
	case "Deployment":
		var d *appsv1.Deployment
		if d, err = apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err == nil {
			rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-7d4b9c", OwnerReferences: []metav1.OwnerReference{
				{APIVersion: "apps/v1", Kind: "Deployment", Name: name, UID: d.UID, Controller: ptr.To(true)}}},
				Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: tmpl}}
			if rs, err = apps.ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err == nil {
				return &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}
			}
		}
	case "StatefulSet":
		var s *appsv1.StatefulSet
		if s, err = apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err == nil {
			uid = s.UID
		}
	case "DaemonSet":
		var d *appsv1.DaemonSet
		if d, err = apps.DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{}); err == nil {
			uid = d.UID
		}
	case "Job":
		// The dashboard does not list Jobs: their pods are workloads of
		// their own.
		uid = types.UID("b0a1c2d3-0000-4000-8000-000000000001")
	}
	if err != nil {
		c.t.Fatalf("creating %s %s/%s: %v", kind, ns, name, err)
	}
	apiVersion := "apps/v1"
	if kind == "Job" {
		apiVersion = "batch/v1"
	}
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: ptr.To(true)}
}

// pod creates a pod of sa, owned by owner when not nil, in phase; meshed
// with its proxy's admin port at admin when admin is not empty.
func (c *cluster) pod(ns, name, sa string, owner *metav1.OwnerReference, phase corev1.PodPhase, admin string) *corev1.Pod {
	c.t.Helper()
	ctx := testenv.Context(c.t)
	s := proxytest.AppSpec(sa)
	s.NodeName = c.node
	if admin != "" {
		s.InitContainers = []corev1.Container{proxytest.Sidecar(c.t)}
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: s}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	pods := env.Clients.Kube.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	created.Status.Phase = phase
	if admin != "" {
		created.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: proxyconfig.ProxyContainerName, Ready: true}}
	}
	if created, err = pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		c.t.Fatalf("pod %s/%s: status: %v", ns, name, err)
	}
	if admin != "" {
		c.admins.Set(ns, name, admin)
	}
	return created
}

// TestCluster: a namespace of every kind of workload, read three times
// through real port-forwards and drawn. Between two readings, web's
// scripted proxy counts 10 requests from api, one of them answered 503,
// and db's 4 from web; web's other proxy is a real mesh-proxy process.
func TestCluster(t *testing.T) {
	c := newCluster(t)
	ns, other := env.Namespace(t, nil), env.Namespace(t, nil)
	webTraffic := func(m *telemetry.Metrics, _ int) {
		for range 9 {
			m.ObserveRequest("inbound", "GET", 200, ns+"/api", true, 3*time.Millisecond)
		}
		m.ObserveRequest("inbound", "GET", 503, ns+"/api", true, 30*time.Millisecond)
	}
	dbTraffic := func(m *telemetry.Metrics, _ int) {
		for range 4 {
			m.ObserveRequest("inbound", "GET", 200, ns+"/web", true, time.Millisecond)
		}
	}
	web := c.owner(ns, "Deployment", "web", "web")
	c.pod(ns, "web-7d4b9c-1", "web", web, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{Traffic: webTraffic}).Addr)
	c.pod(ns, "web-7d4b9c-2", "web", web, corev1.PodRunning, proxytest.StartProcess(t).Admin)
	c.pod(ns, "web-7d4b9c-0", "web", web, corev1.PodSucceeded, "")
	c.pod(ns, "api-7d4b9c-1", "api", c.owner(ns, "Deployment", "api", "api"), corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{}).Addr)
	c.pod(ns, "db-0", "db", c.owner(ns, "StatefulSet", "db", "db"), corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{Traffic: dbTraffic}).Addr)
	c.pod(ns, "agent-x2x7q", "agent", c.owner(ns, "DaemonSet", "agent", "agent"), corev1.PodRunning, "")
	c.pod(ns, "debug", "", nil, corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{NoMetrics: true}).Addr)
	c.pod(ns, "migrate-h5k2j", "", c.owner(ns, "Job", "migrate", ""), corev1.PodPending, "")
	c.pod(other, "client-7d4b9c-1", "client", c.owner(other, "Deployment", "client", "client"), corev1.PodRunning, proxytest.StartAdmin(t, proxytest.Options{}).Addr)

	var n apicount.Counter
	n.Reset()
	clients := n.Clients(t, env.Config)
	src := &dashboard.Cluster{Kube: clients.Kube, Open: (&proxyadmin.Client{Config: clients.Config, Kube: clients.Kube}).Session, Namespace: ns, Clock: clock.RealClock{}}
	clk := clocktesting.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := &dashboard.Refresher{Source: src, Clock: clk, Scope: "namespace " + ns}
	ctx, cancel := context.WithCancel(testenv.Context(t))
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	wait := func(gen uint64) dashboard.State {
		for {
			if st := r.State(); st.Generation == gen {
				return st
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	next := func(gen uint64) dashboard.State {
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clk.Step(dashboard.DefaultInterval)
		return wait(gen)
	}

	st := wait(1)
	var nodes []string
	for _, nd := range st.Nodes {
		nodes = append(nodes, fmt.Sprintf("%s/%s %d/%d", nd.Kind, nd.Name, nd.MeshedPods, nd.Pods))
	}
	if want := []string{"daemonset/agent 0/1", "deployment/api 1/1", "deployment/web 2/2", "pod/debug 1/1", "pod/migrate-h5k2j 0/1", "statefulset/db 1/1"}; !slices.Equal(nodes, want) {
		t.Errorf("nodes %q, want %q", nodes, want)
	}
	if len(st.Unreadable) != 1 || st.Unreadable[0].Pod != "debug" || !strings.Contains(st.Unreadable[0].Error, "its proxy serves no metrics") {
		t.Errorf("unreadable %+v", st.Unreadable)
	}
	// The first reading: one List per resource kind, and a port-forward
	// to each of the five meshed, running pods (a WebSocket upgrade, so a
	// GET).
	first := map[string]int{"LIST pods": 1, "LIST deployments": 1, "LIST replicasets": 1, "LIST statefulsets": 1, "LIST daemonsets": 1, "GET pods/portforward": 5}
	if got := n.Reset(); !maps.Equal(got, first) {
		t.Errorf("API requests of the first reading: %v, want %v", got, first)
	}

	st = next(2)
	edges := map[string]string{}
	for _, e := range st.Edges {
		sr := "-"
		if e.SuccessRate != nil {
			sr = fmt.Sprint(*e.SuccessRate)
		}
		edges[e.Source+" -> "+e.Target] = fmt.Sprintf("%v requests, %s ok", e.Requests, sr)
	}
	want := map[string]string{
		ns + "/deployment/api -> " + ns + "/deployment/web": "10 requests, 0.9 ok",
		ns + "/deployment/web -> " + ns + "/statefulset/db": "4 requests, 1 ok",
	}
	if !maps.Equal(edges, want) || st.Proxies != 4 || st.Waiting {
		t.Errorf("edges %v, want %v; %d proxies read twice", edges, want, st.Proxies)
	}
	// Later readings: the Lists again, and no port-forward: they stay open.
	again := map[string]int{"LIST pods": 1, "LIST deployments": 1, "LIST replicasets": 1, "LIST statefulsets": 1, "LIST daemonsets": 1}
	if got := n.Reset(); !maps.Equal(got, again) {
		t.Errorf("API requests of the second reading: %v, want %v", got, again)
	}
	next(3)
	if got := n.Reset(); !maps.Equal(got, again) {
		t.Errorf("API requests of the third reading: %v, want %v", got, again)
	}
	for pod, f := range c.kubelet.Forwards() {
		if f != 1 {
			t.Errorf("%s port-forwarded %d times in three readings", pod, f)
		}
	}

	// A pod that goes away has its port-forward closed.
	if err := env.Clients.Kube.CoreV1().Pods(ns).Delete(testenv.Context(t), "db-0", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	next(4)
	if f := src.Forwards(); f != 4 {
		t.Errorf("%d port-forwards open after db-0 went, want 4", f)
	}

	// Every namespace: the other namespace's workload too.
	all := &dashboard.Cluster{Kube: env.Clients.Kube, Open: (&proxyadmin.Client{Config: env.Config, Kube: env.Clients.Kube}).Session, Clock: clock.RealClock{}}
	defer all.Release()
	s, err := all.Read(testenv.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, w := range s.Workloads {
		found[w.Namespace+"/"+w.Name] = true
	}
	if !found[other+"/client"] || !found[ns+"/web"] {
		t.Errorf("every namespace: %v", found)
	}
}
