package check

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
)

func TestPolicyChecks(t *testing.T) {
	m := newMesh(t)
	m.install(t)
	ns := m.enrol(t)
	m.expectOK(t, Checks(), "policy-findings")
	m.expectOK(t, Checks(), "policy-unreachable")

	// A TrafficTarget whose only rule names a route group that does not
	// exist: a finding, and the rule allows nothing.
	createPolicy(t, cluster.TrafficTargets, ns, `
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: store}
spec:
  destination: {kind: ServiceAccount, name: default}
  rules: [{kind: HTTPRouteGroup, name: routes}]
  sources: [{kind: ServiceAccount, name: default}]
`)
	m.expectProblem(t, Checks(), "policy-findings", StatusWarn,
		`TrafficTarget "`+ns+`/store": spec.rules[0]: HTTPRouteGroup "`+ns+`/routes" does not exist; the rule allows nothing`,
		`TrafficTarget "`+ns+`/store": spec.destination: ServiceAccount "`+ns+`/default" does not exist`)

	// A meshed pod behind a Service runs as that destination. While the
	// mesh is permissive, everything reaches it.
	m.createPod(t, ns, podSpec{name: "store-1", injected: true})
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "store", Namespace: ns},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "books"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := env.Clients.Kube.CoreV1().Services(ns).Create(testenv.Context(t), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m.expectOK(t, Checks(), "policy-unreachable")

	// Permissive off: the TrafficTarget names the destination with a
	// source, but its rule allows nothing, so nothing reaches the Service
	// (looking at sources alone would say otherwise).
	m.setPermissive(t, false)
	m.expectProblem(t, Checks(), "policy-unreachable", StatusWarn,
		"nothing may reach service "+ns+"/store (ServiceAccounts default)")

	// The route group and the ServiceAccount make it whole.
	createPolicy(t, cluster.HTTPRouteGroups, ns, `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes}
spec:
  matches: [{name: all, methods: ["*"]}]
`)
	if _, err := env.Clients.Kube.CoreV1().ServiceAccounts(ns).Create(testenv.Context(t), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	m.expectOK(t, Checks(), "policy-findings")
	m.expectOK(t, Checks(), "policy-unreachable")
}

// createPolicy creates a policy object in ns and deletes it when the test
// ends: the test API server has no namespace controller, and another
// test's findings check would see it.
func createPolicy(t *testing.T, gvr schema.GroupVersionResource, ns, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	api := env.Clients.Dynamic.Resource(gvr).Namespace(ns)
	if _, err := api.Create(testenv.Context(t), u, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Delete(context.Background(), u.GetName(), metav1.DeleteOptions{}) })
}

func (m *mesh) setPermissive(t *testing.T, on bool) {
	t.Helper()
	_, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(m.ns).
		Patch(testenv.Context(t), meshconfig.ObjectName, types.MergePatchType, meshconfig.PermissivePatch(on), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
}
