// Package integration_test holds pkg/policy/crd's types and the chart's
// policy CRDs to a real API server: what the server accepts converts to
// the Go types and compiles, and what the schema forbids is refused. It
// lives apart from package crd so that crd's own tests start no server.
package integration_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/crd"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

var (
	trafficTargets  = schema.GroupVersionResource{Group: "access.smi-spec.io", Version: "v1alpha3", Resource: "traffictargets"}
	httpRouteGroups = schema.GroupVersionResource{Group: "specs.smi-spec.io", Version: "v1alpha4", Resource: "httproutegroups"}
	tcpRoutes       = schema.GroupVersionResource{Group: "specs.smi-spec.io", Version: "v1alpha4", Resource: "tcproutes"}
	ingressBackends = schema.GroupVersionResource{Group: "policy.meshctl.io", Version: "v1alpha1", Resource: "ingressbackends"}
)

func resourceOf(t *testing.T, kind string) schema.GroupVersionResource {
	t.Helper()
	switch kind {
	case crd.KindTrafficTarget:
		return trafficTargets
	case crd.KindHTTPRouteGroup:
		return httpRouteGroups
	case crd.KindTCPRoute:
		return tcpRoutes
	case crd.KindIngressBackend:
		return ingressBackends
	}
	t.Fatalf("no resource for kind %q", kind)
	return schema.GroupVersionResource{}
}

// create creates every document of a YAML stream in ns, with strict field
// validation, and returns the first error.
func create(t *testing.T, ns, stream string) error {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) == 0 {
			continue
		}
		u.SetNamespace(ns)
		_, err := env.Clients.Dynamic.Resource(resourceOf(t, u.GetKind())).Namespace(ns).Create(testenv.Context(t), u, metav1.CreateOptions{FieldValidation: "Strict"})
		if err != nil {
			return err
		}
	}
	return nil
}

// list reads every object of gvr in ns as the controller will: the
// unstructured object, through JSON, into crd's type.
func list[T any](t *testing.T, gvr schema.GroupVersionResource, ns string) []T {
	t.Helper()
	l, err := env.Clients.Dynamic.Resource(gvr).Namespace(ns).List(testenv.Context(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for _, u := range l.Items {
		b, err := json.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		out = append(out, v)
	}
	return out
}

// TestExamplesCompileFromTheAPIServer stores the examples' bookstore
// policy, a TCPRoute and an IngressBackend in the API server, reads them
// back as the controller does, compiles them and checks the decisions of
// the scenario with permissive mode off.
func TestExamplesCompileFromTheAPIServer(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	example, err := os.ReadFile("../../../../examples/bookstore/traffic-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The examples' objects live in bookstore; here they live in the
	// test's namespace, with the destination moved along.
	if err := create(t, ns, strings.ReplaceAll(string(example), "namespace: bookstore", "namespace: "+ns)); err != nil {
		t.Fatalf("creating the examples' policy: %v", err)
	}
	if err := create(t, ns, `
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db}
spec: {matches: {name: pg, ports: [5432]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: bookstore-db}
spec:
  destination: {kind: ServiceAccount, name: bookstore}
  rules: [{kind: TCPRoute, name: db}]
  sources: [{kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}]
---
apiVersion: policy.meshctl.io/v1alpha1
kind: IngressBackend
metadata: {name: web}
spec:
  backends: [{name: bookstore, port: {number: 80}}]
  sources: [{kind: IPRange, name: 198.18.5.0/24}, {kind: ServiceAccount, name: nginx, namespace: ingress}]
`); err != nil {
		t.Fatalf("creating a TCPRoute, TrafficTarget and IngressBackend: %v", err)
	}
	store, err := identity.NewID("cluster.local", ns, "bookstore")
	if err != nil {
		t.Fatal(err)
	}
	ibs := list[crd.IngressBackend](t, ingressBackends, ns)
	if len(ibs) != 1 || ibs[0].Spec.Backends[0].Port.Protocol != "http" {
		t.Fatalf("IngressBackends %+v: want one, its protocol defaulted to http by the schema", ibs)
	}
	set, findings, err := crd.Compile(crd.Cluster{
		TrustDomain:     "cluster.local",
		TrafficTargets:  list[crd.TrafficTarget](t, trafficTargets, ns),
		HTTPRouteGroups: list[crd.HTTPRouteGroup](t, httpRouteGroups, ns),
		TCPRoutes:       list[crd.TCPRoute](t, tcpRoutes, ns),
		IngressBackends: ibs,
		Services:        []crd.Service{{Namespace: ns, Name: "bookstore", Ports: []crd.ServicePort{{Port: 80, TargetPort: 14001}}, Identities: []identity.ID{store}}},
	})
	if err != nil || len(findings) > 0 {
		t.Fatalf("Compile: %v, findings %v", err, findings)
	}
	p := set.For(store)
	who := func(ns, sa string) identity.ID {
		id, err := identity.NewID("cluster.local", ns, sa)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ip := netip.MustParseAddr("198.18.0.9")
	for _, c := range []struct {
		src    identity.ID
		ip     netip.Addr
		target string
		allow  bool
	}{
		{src: who("bookbuyer", "bookbuyer"), ip: ip, target: "/api/buy", allow: true},
		{src: who("bookthief", "bookthief"), ip: ip, target: "/api/buy"},
		{src: who("bookbuyer", "bookbuyer"), ip: ip, target: "/api/steal"},
		{src: who("bookthief", "bookthief"), ip: ip, target: "/api/steal"},
		{src: who("bookthief", "bookthief"), ip: ip, target: "/api/buy/../steal"},
		{src: who("default", "x"), ip: ip, target: "/api/buy"},
		{ip: ip, target: "/api/buy"},
		{ip: netip.MustParseAddr("198.18.5.1"), target: "/api/steal", allow: true},
		{src: who("ingress", "nginx"), ip: ip, target: "/", allow: true},
	} {
		r := policy.Request{Source: c.src, SourceIP: c.ip, Port: 14001, Method: "GET", Host: "bookstore", Target: c.target}
		if d := p.HTTP(&r); d.Allow != c.allow {
			t.Errorf("%s from %s %s: %+v, want allowed %t", c.target, c.src, c.ip, d, c.allow)
		}
	}
	if d := p.TCP(who("bookbuyer", "bookbuyer"), ip, 5432); !d.Allow || d.Name != ns+"/bookstore-db" {
		t.Errorf("bookbuyer to 5432: %+v, want allowed by %s/bookstore-db", d, ns)
	}
	if d := p.TCP(who("bookthief", "bookthief"), ip, 5432); d.Allow {
		t.Errorf("bookthief to 5432: %+v, want denied", d)
	}
}

// TestServerRefusesWhatTheSchemaForbids: one invalid object per rule of
// the new CRDs; the API server must refuse each, naming the field.
func TestServerRefusesWhatTheSchemaForbids(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	const (
		tcp = "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\nmetadata: {name: r}\n"
		ib  = "apiVersion: policy.meshctl.io/v1alpha1\nkind: IngressBackend\nmetadata: {name: i}\n"
		src = "sources: [{kind: IPRange, name: 10.0.0.0/8}]"
		be  = "backends: [{name: s, port: {number: 80}}]"
	)
	for _, c := range []struct{ name, doc, want string }{
		{"tcp port 0", tcp + "spec: {matches: {ports: [0]}}", "spec.matches.ports[0]"},
		{"tcp port too high", tcp + "spec: {matches: {ports: [65536]}}", "spec.matches.ports[0]"},
		{"tcp duplicate port", tcp + "spec: {matches: {ports: [80, 80]}}", "spec.matches.ports[1]"},
		{"tcp matches as a list", tcp + "spec: {matches: [{ports: [80]}]}", "spec.matches"},
		{"tcp unknown field", tcp + "spec: {matches: {port: 80}}", "spec.matches.port"},
		{"ib no backends", ib + "spec: {" + src + "}", "spec.backends"},
		{"ib no sources", ib + "spec: {" + be + "}", "spec.sources"},
		{"ib protocol", ib + "spec: {backends: [{name: s, port: {number: 80, protocol: grpc}}], " + src + "}", "spec.backends[0].port.protocol"},
		{"ib port", ib + "spec: {backends: [{name: s, port: {number: 0}}], " + src + "}", "spec.backends[0].port.number"},
		{"ib service name", ib + "spec: {backends: [{name: '', port: {number: 80}}], " + src + "}", "spec.backends[0].name"},
		{"ib source kind", ib + "spec: {" + be + ", sources: [{kind: Group, name: x}]}", "spec.sources[0].kind"},
		{"ib source name", ib + "spec: {" + be + ", sources: [{kind: IPRange}]}", "spec.sources[0].name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var probe map[string]any
			if err := yaml.Unmarshal([]byte(c.doc), &probe); err != nil {
				t.Fatalf("the test's YAML: %v", err)
			}
			err := create(t, ns, c.doc)
			if err == nil {
				t.Fatalf("the API server accepted:\n%s", c.doc)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("refused with %v\nwant it to name %s", err, c.want)
			}
		})
	}
}
