// Package integration_test holds `meshctl stat` to a real API server, with
// real port-forwards through it to proxies on this machine (the stand-in
// kubelet of internal/pfkubelet): the rows and their figures, the cost in
// API requests and port-forwards, and its benchmark at 50 namespaces and
// 1,000 meshed pods. It lives apart from package statcli so that
// statcli's unit tests and fuzz target start no server.
package integration_test

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/pfkubelet"
	"github.com/meshctl/meshctl/internal/proxytest"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/proxyconfig"
)

// env is the API server shared by this package's integration tests.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

// cluster is a test's pods and where their admin ports are: the kubelet
// routes each pod's admin port to its address.
type cluster struct {
	t       testing.TB
	kubelet *pfkubelet.Kubelet
	node    string

	admins pfkubelet.Admins
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	if env.External {
		t.Fatal("these tests register a kubelet of their own; run them against the test API server, not " + testenv.EnvKubeconfig)
	}
	c := &cluster{t: t}
	c.kubelet = pfkubelet.Start(t, c.admins.Route)
	c.node = c.kubelet.Node(t, env)
	return c
}

// deployment creates a deployment of the ServiceAccount sa, a ReplicaSet
// it controls and one pod per admin address (unmeshed where the address
// is empty), as the controllers would have; the pods are Running on the
// cluster's node.
func (c *cluster) deployment(ns, name, sa string, admins ...string) {
	c.t.Helper()
	ctx := testenv.Context(c.t)
	labels := map[string]string{"app": name}
	d, err := env.Clients.Kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: proxytest.AppSpec(sa)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("creating deployment %s/%s: %v", ns, name, err)
	}
	rs, err := env.Clients.Kube.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-5d8f7c9b4", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: proxytest.AppSpec(sa)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("creating replicaset %s/%s: %v", ns, name, err)
	}
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: ptr.To(true)}
	for i, addr := range admins {
		c.pod(ns, fmt.Sprintf("%s-%d", rs.Name, i+1), sa, labels, &owner, addr)
	}
}

// statefulSet is deployment's counterpart for a StatefulSet.
func (c *cluster) statefulSet(ns, name, sa string, admins ...string) {
	c.t.Helper()
	labels := map[string]string{"app": name}
	s, err := env.Clients.Kube.AppsV1().StatefulSets(ns).Create(testenv.Context(c.t), &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: proxytest.AppSpec(sa)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("creating statefulset %s/%s: %v", ns, name, err)
	}
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: s.Name, UID: s.UID, Controller: ptr.To(true)}
	for i, addr := range admins {
		c.pod(ns, fmt.Sprintf("%s-%d", name, i), sa, labels, &owner, addr)
	}
}

// pod creates a Running pod; meshed, with its proxy ready, when admin
// is not empty.
func (c *cluster) pod(ns, name, sa string, labels map[string]string, owner *metav1.OwnerReference, admin string) {
	c.t.Helper()
	ctx := testenv.Context(c.t)
	spec := proxytest.AppSpec(sa)
	spec.NodeName = c.node
	if admin != "" {
		spec.InitContainers = []corev1.Container{proxytest.Sidecar(c.t)}
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: spec}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	pods := env.Clients.Kube.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatalf("creating pod %s/%s: %v", ns, name, err)
	}
	created.Status.Phase = corev1.PodRunning
	if admin != "" {
		created.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: proxyconfig.ProxyContainerName, Ready: true}}
	}
	if _, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		c.t.Fatalf("pod %s/%s: status: %v", ns, name, err)
	}
	if admin != "" {
		c.admins.Set(ns, name, admin)
	}
}

// idle is an admin port whose proxy carries nothing.
func idle(t testing.TB) string { return proxytest.StartAdmin(t, proxytest.Options{}).Addr }

// stepClock is when the golden tests' clock starts.
var stepClock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
