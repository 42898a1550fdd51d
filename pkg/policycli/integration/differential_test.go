package integration_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	stdslices "slices"
	"testing"

	"github.com/meshctl/meshctl/pkg/policycli"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
	"github.com/meshctl/meshctl/pkg/policy/crd"
	"github.com/meshctl/meshctl/pkg/policy/policytest"
)

// moreYAML lets plain text from 198.18.0.96/30 reach bookstore's HTTP
// port, and bookstore's own identity call its API with an X-Role: admin
// header or the host bookstore.example, so that the differential covers
// IngressBackends, headers and hosts too.
const moreYAML = `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata:
  name: admin-routes
  namespace: bookstore
spec:
  matches:
  - name: by-role
    methods: ["*"]
    pathRegex: /api/.*
    headers: {x-role: admin}
  - name: by-host
    methods: [GET]
    pathRegex: /api/.*
    headers: {host: 'bookstore\.example'}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata:
  name: bookstore-admin
  namespace: bookstore
spec:
  destination: {kind: ServiceAccount, name: bookstore, namespace: bookstore}
  rules:
  - kind: HTTPRouteGroup
    name: admin-routes
  sources:
  - {kind: ServiceAccount, name: bookstore, namespace: bookstore}
---
apiVersion: policy.meshctl.io/v1alpha1
kind: IngressBackend
metadata:
  name: ingress
  namespace: bookstore
spec:
  backends:
  - name: bookstore
    port: {number: 14001, protocol: http}
  sources:
  - kind: IPRange
    name: 198.18.0.96/30
`

// For every generated request (sources × methods × odd spellings of the
// paths, and headers), explain's decision, read from its JSON output,
// equals the one the evaluator gives when called directly on the Set the
// proxy would decode from objects the test gathers itself.
func TestDifferentialExplainAgreesWithEvaluator(t *testing.T) {
	b := newBookstore(t, false)
	b.apply(t, moreYAML)
	set := b.directSet(t)
	td := "cluster.local"
	id := func(ns, sa string) identity.ID {
		v, err := identity.NewID(td, ns, sa)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	dst := id(b.store, "bookstore")
	sources := []identity.ID{id(b.buyer, "bookbuyer"), id(b.thief, "bookthief"), id(b.store, "bookstore"), {}}
	plainIP := netip.MustParseAddr("198.18.0.97") // inside the IngressBackend's range
	reqs := policytest.Requests(sources, []string{"/api/buy", "/api/steal"})
	// The first requests read the cluster as the command does; the rest
	// share one read of it, for time: the request's path through the
	// command (flags, endpoints, headers, JSON) is what they test.
	snap, err := policycli.Read(testenv.Context(t), env.Clients, b.mesh, b.meshNS)
	if err != nil {
		t.Fatal(err)
	}
	allowed, denied := 0, 0
	for i, r := range reqs {
		o := policycli.ExplainOptions{To: b.store + "/svc/bookstore", Method: r.Method, Path: r.Target}
		if i >= 50 {
			o.Read = func(context.Context, *kube.Clients, string, string) (*policycli.Snapshot, error) { return snap, nil }
		}
		if r.Source.IsZero() {
			o.From = "ip/" + plainIP.String()
		} else {
			o.From = r.Source.String()
		}
		for _, k := range stdslices.Sorted(maps.Keys(r.Header)) {
			for _, v := range r.Header[k] {
				o.Headers = append(o.Headers, k+": "+v)
			}
		}
		out, _, err := b.explain(t, o)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		got := one(t, decode(t, out))
		pr := r.Policy(8080)
		pr.SourceIP = plainIP
		if !r.Source.IsZero() {
			pr.SourceIP = netip.Addr{}
		}
		want := set.For(dst).HTTP(pr)
		if got != want {
			t.Errorf("%s: explain says %+v, the evaluator %+v", r, got, want)
		}
		if want.Allow {
			allowed++
		} else {
			denied++
		}
	}
	// The generator must exercise both outcomes, or the test proves little.
	if allowed < 20 || denied < 20 {
		t.Errorf("%d requests allowed and %d denied: the generator no longer covers both", allowed, denied)
	}
	t.Logf("%d requests: %d allowed, %d denied", len(reqs), allowed, denied)
}

// directSet compiles the objects the test created, fetched one by one
// rather than listed as policycli.Read lists them, on the controller's and the
// proxy's path: cluster.Input, crd.Compile, JSON, policy.DecodeSet.
func (b *bookstore) directSet(t *testing.T) *policy.Set {
	t.Helper()
	ctx := testenv.Context(t)
	dyn := func(i int, ns, name string) *unstructured.Unstructured {
		u, err := env.Clients.Dynamic.Resource(cluster.Resources()[i]).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	o := cluster.Objects{
		TrustDomain:     "cluster.local",
		TrafficTargets:  []*unstructured.Unstructured{dyn(0, b.store, "bookstore-buy"), dyn(0, b.store, "bookstore-admin")},
		HTTPRouteGroups: []*unstructured.Unstructured{dyn(1, b.store, "bookstore-routes"), dyn(1, b.store, "admin-routes")},
		IngressBackends: []*unstructured.Unstructured{dyn(3, b.store, "ingress")},
	}
	kc := env.Clients.Kube
	svc, err := kc.CoreV1().Services(b.store).Get(ctx, "bookstore", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slices, err := kc.DiscoveryV1().EndpointSlices(b.store).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=bookstore"})
	if err != nil || len(slices.Items) != 1 {
		t.Fatalf("bookstore's EndpointSlices: %v, %v", slices, err)
	}
	slice := &slices.Items[0]
	pod, err := kc.CoreV1().Pods(b.store).Get(ctx, "bookstore-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.Services, o.Slices, o.Pods = []*corev1.Service{svc}, []*discoveryv1.EndpointSlice{slice}, []*corev1.Pod{pod}
	in, _ := cluster.Input(o)
	compiled, _, err := crd.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(compiled)
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.DecodeSet(data, policy.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if !stdslices.ContainsFunc(set.Policies, func(p policy.Policy) bool { return len(p.Ingress) > 0 }) {
		t.Fatalf("the IngressBackend compiled to nothing: %s", data)
	}
	return set
}
