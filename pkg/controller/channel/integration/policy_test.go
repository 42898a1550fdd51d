package integration_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/channel"
	ctrlchannel "github.com/meshctl/meshctl/pkg/controller/channel"
	"github.com/meshctl/meshctl/pkg/identity"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/policy"
	"github.com/meshctl/meshctl/pkg/policy/cluster"
)

// policyRules are what the chart grants the controller for the policy.
var policyRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"serviceaccounts"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"access.smi-spec.io"}, Resources: []string{"traffictargets"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"specs.smi-spec.io"}, Resources: []string{"httproutegroups", "tcproutes"}, Verbs: []string{"list", "watch"}},
	{APIGroups: []string{"policy.meshctl.io"}, Resources: []string{"ingressbackends"}, Verbs: []string{"list", "watch"}},
}

// TestPolicyInSnapshot: the snapshot carries the mesh's policy, compiled
// from the TrafficTargets and route groups the informers see and the
// MeshConfig's permissive mode; a TrafficTarget created or deleted and the
// mode switched each reach the proxy as a new decision.
func TestPolicyInSnapshot(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	cfg, _ := env.User(t, append(append([]rbacv1.PolicyRule{}, rbacRules...), policyRules...)...)
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var permissive, noEgress atomic.Bool
	f := start(t, fixtureOptions{kube: kube, tweak: func(o *ctrlchannel.Options) {
		o.Dynamic, o.Permissive = dyn, permissive.Load
		o.Settings = func() channel.Settings { return channel.Settings{EnableEgress: !noEgress.Load()} }
	}})
	var held atomic.Pointer[policy.Policy]
	var egress atomic.Bool
	store := mustID(t, f.ns, "bookstore")
	c := f.client(t, issue(t, f.ca, f.ns, "client", time.Now().Add(-time.Minute), time.Hour), func(s *channel.Snapshot) {
		set, err := policy.DecodeSet(s.Content.PolicyV1, policy.DefaultLimits())
		if err != nil {
			t.Errorf("the snapshot's policy: %v", err)
			return
		}
		held.Store(set.For(store))
		settings, err := channel.DecodeSettings(s.Content.SettingsV1)
		if err != nil || len(s.Content.SettingsV1) == 0 {
			t.Errorf("the snapshot's settings %q: %v", s.Content.SettingsV1, err)
		}
		egress.Store(settings.EnableEgress)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	buy := func(sa, path string) bool {
		p := held.Load()
		if p == nil {
			return false
		}
		return p.HTTP(&policy.Request{Source: mustID(t, f.ns, sa), Port: 8080, Method: "GET", Host: "bookstore", Target: path}).Allow
	}
	eventually(t, "nothing allowed with permissive mode off and no TrafficTarget", func() bool {
		return held.Load() != nil && !buy("bookbuyer", "/api/buy")
	})

	create := func(gvrIndex int, obj map[string]any) {
		t.Helper()
		u := &unstructured.Unstructured{Object: obj}
		if _, err := env.Clients.Dynamic.Resource(cluster.Resources()[gvrIndex]).Namespace(f.ns).Create(testenv.Context(t), u, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(1, map[string]any{
		"apiVersion": "specs.smi-spec.io/v1alpha4", "kind": "HTTPRouteGroup",
		"metadata": map[string]any{"name": "routes", "namespace": f.ns},
		"spec":     map[string]any{"matches": []any{map[string]any{"name": "buy", "methods": []any{"GET"}, "pathRegex": "/api/buy"}}},
	})
	create(0, map[string]any{
		"apiVersion": "access.smi-spec.io/v1alpha3", "kind": "TrafficTarget",
		"metadata": map[string]any{"name": "buy", "namespace": f.ns},
		"spec": map[string]any{
			"destination": map[string]any{"kind": "ServiceAccount", "name": "bookstore", "namespace": f.ns},
			"sources":     []any{map[string]any{"kind": "ServiceAccount", "name": "bookbuyer", "namespace": f.ns}},
			"rules":       []any{map[string]any{"kind": "HTTPRouteGroup", "name": "routes", "matches": []any{"buy"}}},
		},
	})
	eventually(t, "bookbuyer may buy once the TrafficTarget exists", func() bool { return buy("bookbuyer", "/api/buy") })
	for _, c := range []struct{ sa, path string }{{"bookthief", "/api/buy"}, {"bookbuyer", "/api/steal"}, {"bookbuyer", "/api/buy/more"}} {
		if buy(c.sa, c.path) {
			t.Errorf("%s may GET %s", c.sa, c.path)
		}
	}

	permissive.Store(true)
	f.server.Invalidate()
	eventually(t, "bookthief may steal once permissive mode is on", func() bool { return buy("bookthief", "/api/steal") })
	permissive.Store(false)
	f.server.Invalidate()
	eventually(t, "bookthief may not steal once it is off again", func() bool { return !buy("bookthief", "/api/steal") })

	noEgress.Store(true)
	f.server.Invalidate()
	eventually(t, "the settings say egress is off", func() bool { return !egress.Load() })

	if err := env.Clients.Dynamic.Resource(cluster.TrafficTargets).Namespace(f.ns).Delete(testenv.Context(t), "buy", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bookbuyer may not buy once the TrafficTarget is deleted", func() bool { return !buy("bookbuyer", "/api/buy") })
}

func mustID(t testing.TB, ns, sa string) identity.ID {
	t.Helper()
	id, err := identity.NewID(identity.DefaultTrustDomain, ns, sa)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
