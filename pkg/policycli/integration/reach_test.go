package integration_test

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/meshctl/meshctl/pkg/meshconfig"

	"github.com/meshctl/meshctl/pkg/policycli"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
)

func TestUnreachable(t *testing.T) {
	b := newBookstore(t, false)
	// bookbuyer has a Service and a meshed pod, and nothing may reach it;
	// an unmeshed pod of another ServiceAccount behind it is not counted.
	createService(t, b.buyer, "bookbuyer", map[string]string{"app": "bookbuyer"}, 80, intstr.FromInt32(8080))
	createPod(t, b.buyer, "bookbuyer-2", "bookbuyer", "198.18.0.22", true, map[string]string{"app": "bookbuyer"})
	createPod(t, b.buyer, "bare", "other", "198.18.0.23", false, map[string]string{"app": "bookbuyer"})
	// A Service with no meshed pod is left out.
	createService(t, b.thief, "nothing", map[string]string{"app": "nothing"}, 80, intstr.FromInt32(8080))

	snap, err := policycli.Read(testenv.Context(t), env.Clients, b.mesh, b.meshNS)
	if err != nil {
		t.Fatal(err)
	}
	got := policycli.Unreachable(snap, []string{b.store, b.buyer, b.thief})
	want := []policycli.UnreachableService{{Namespace: b.buyer, Name: "bookbuyer", ServiceAccounts: []string{"bookbuyer"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unreachable: got %+v, want %+v", got, want)
	}
	// Only the namespaces asked about.
	if got := policycli.Unreachable(snap, []string{b.store}); len(got) != 0 {
		t.Errorf("bookstore alone: %+v", got)
	}

	// A TrafficTarget whose only rule names a missing route group allows
	// nothing: bookstore becomes unreachable, though a TrafficTarget with
	// sources names it (the old check, which looked at sources only,
	// called it reachable).
	b.apply(t, strings.ReplaceAll(brokenTargetYAML, "bookstore-routes", "no-such-group"))
	if err := env.Clients.Dynamic.Resource(cluster.TrafficTargets).Namespace(b.store).Delete(testenv.Context(t), "bookstore-buy", deleteNow()); err != nil {
		t.Fatal(err)
	}
	snap, err = policycli.Read(testenv.Context(t), env.Clients, b.mesh, b.meshNS)
	if err != nil {
		t.Fatal(err)
	}
	got = policycli.Unreachable(snap, []string{b.store})
	want = []policycli.UnreachableService{{Namespace: b.store, Name: "bookstore", ServiceAccounts: []string{"bookstore"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with a broken TrafficTarget: got %+v, want %+v", got, want)
	}
	if !hasFinding(snap, "TrafficTarget", b.store, "broken", "spec.rules[0]", `HTTPRouteGroup "`+b.store+`/no-such-group" does not exist`) {
		t.Errorf("no finding for the missing route group: %+v", snap.Findings)
	}
}

// brokenTargetYAML is a TrafficTarget naming a route group by a name the
// test replaces.
const brokenTargetYAML = `
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata:
  name: broken
  namespace: bookstore
spec:
  destination: {kind: ServiceAccount, name: bookstore, namespace: bookstore}
  rules:
  - kind: HTTPRouteGroup
    name: bookstore-routes
  sources:
  - {kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}
  - {kind: ServiceAccount, name: ghost, namespace: bookbuyer}
`

func TestBrokenEdges(t *testing.T) {
	b := newBookstore(t, true)
	snap, err := policycli.Read(testenv.Context(t), env.Clients, b.mesh, b.meshNS)
	if err != nil {
		t.Fatal(err)
	}
	id := func(ns, sa string) identity.ID {
		v, err := identity.NewID("cluster.local", ns, sa)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	store, buyer, thief := id(b.store, "bookstore"), id(b.buyer, "bookbuyer"), id(b.thief, "bookthief")
	seen := []policycli.ObservedEdge{{Source: buyer, Destination: store}, {Source: thief, Destination: store}, {Source: store, Destination: buyer}, {Source: id(b.buyer, "other"), Destination: store}}
	// Permissive mode is on, and policycli.BrokenEdges answers for when it is off.
	got := policycli.BrokenEdges(snap.Set, seen)
	want := []policycli.ObservedEdge{{Source: thief, Destination: store}, {Source: store, Destination: buyer}, {Source: id(b.buyer, "other"), Destination: store}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestFindingsOfAMissingRouteGroup(t *testing.T) {
	b := newBookstore(t, false)
	b.apply(t, strings.ReplaceAll(brokenTargetYAML, "bookstore-routes", "no-such-group"))
	snap, err := policycli.Read(testenv.Context(t), env.Clients, b.mesh, b.meshNS)
	if err != nil {
		t.Fatal(err)
	}
	if !hasFinding(snap, "TrafficTarget", b.store, "broken", "spec.rules[0]", `HTTPRouteGroup "`+b.store+`/no-such-group" does not exist`) {
		t.Errorf("no finding for the missing route group: %+v", snap.Findings)
	}
	// policycli.Read lists ServiceAccounts, so a source that does not exist is one.
	if !hasFinding(snap, "TrafficTarget", b.store, "broken", "spec.sources[1]", `ServiceAccount "`+b.buyer+`/ghost" does not exist`) {
		t.Errorf("no finding for the missing ServiceAccount: %+v", snap.Findings)
	}
}

func hasFinding(snap *policycli.Snapshot, kind, ns, name, field, msg string) bool {
	for _, f := range snap.Findings {
		if f.Kind == kind && f.Namespace == ns && f.Name == name && f.Field == field && strings.Contains(f.Message, msg) {
			return true
		}
	}
	return false
}

// UnreachableEnrolled asks only about the mesh's enrolled namespaces.
func TestUnreachableEnrolled(t *testing.T) {
	b := newBookstore(t, false)
	createService(t, b.buyer, "bookbuyer", map[string]string{"app": "bookbuyer"}, 80, intstr.FromInt32(8080))
	createPod(t, b.buyer, "bookbuyer-2", "bookbuyer", "198.18.0.22", true, map[string]string{"app": "bookbuyer"})
	got, err := policycli.UnreachableEnrolled(testenv.Context(t), env.Clients, b.mesh, b.meshNS)
	if err != nil || len(got) != 0 {
		t.Fatalf("nothing enrolled: %+v, %v", got, err)
	}
	patch := []byte(`{"metadata":{"labels":{"` + meshconfig.LabelMonitoredBy + `":"` + b.mesh + `"}}}`)
	for _, ns := range []string{b.store, b.buyer} {
		if _, err := env.Clients.Kube.CoreV1().Namespaces().Patch(testenv.Context(t), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = policycli.UnreachableEnrolled(testenv.Context(t), env.Clients, b.mesh, b.meshNS)
	want := []policycli.UnreachableService{{Namespace: b.buyer, Name: "bookbuyer", ServiceAccounts: []string{"bookbuyer"}}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
}
