package meshconfigtest_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	_ "github.com/meshctl/meshctl/internal/golden"
	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
)

var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env) }

func create(t *testing.T, gvr schema.GroupVersionResource, ns, doc string) error {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	_, err := env.Clients.Dynamic.Resource(gvr).Namespace(ns).Create(testenv.Context(t), u, metav1.CreateOptions{})
	return err
}

// TestServerDefaultsMatchDefaultSpec creates a MeshConfig with an empty spec
// and reads back what the API server's schema defaults made of it.
func TestServerDefaultsMatchDefaultSpec(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	if err := create(t, meshconfig.GroupVersionResource, ns, "apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh-config}\n"); err != nil {
		t.Fatal(err)
	}
	mc, err := meshconfig.Get(testenv.Context(t), env.Clients.Dynamic, ns)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mc.Spec, meshconfig.DefaultSpec()) {
		t.Errorf("server defaults %+v, want DefaultSpec %+v", mc.Spec, meshconfig.DefaultSpec())
	}
}

// TestServerValidatesEveryRule sends one invalid MeshConfig per rule of the
// schema; the API server must refuse each, naming the field.
func TestServerValidatesEveryRule(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	const head = "apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh-config}\n"
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"name", "apiVersion: config.meshctl.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: other}\n", []string{"named mesh-config"}},
		{"log level", head + "spec: {sidecar: {logLevel: loud}}", []string{"spec.sidecar.logLevel", "Unsupported value"}},
		{"boolean", head + "spec: {traffic: {enableEgress: maybe}}", []string{"spec.traffic.enableEgress", "boolean"}},
		{"port range", head + "spec: {traffic: {inboundPortExclusionList: [70000]}}", []string{"spec.traffic.inboundPortExclusionList[0]"}},
		{"duplicate port", head + "spec: {traffic: {outboundPortExclusionList: [80, 80]}}", []string{"spec.traffic.outboundPortExclusionList[1]", "Duplicate"}},
		{"cidr", head + "spec: {traffic: {outboundIPRangeExclusionList: [10.0.0.300/8]}}", []string{"spec.traffic.outboundIPRangeExclusionList[0]", "CIDR"}},
		{"tracing address", head + "spec: {observability: {tracing: {enable: true}}}", []string{"spec.observability.tracing", "address is required"}},
		{"tracing port", head + "spec: {observability: {tracing: {port: 0}}}", []string{"spec.observability.tracing.port"}},
		{"tracing endpoint", head + "spec: {observability: {tracing: {endpoint: v1/traces}}}", []string{"spec.observability.tracing.endpoint"}},
		{"jwt keys", head + "spec: {auth: {jwt: {enable: true, issuer: me, jwks: '{}', jwksURL: 'https://x'}}}", []string{"spec.auth.jwt", "exactly one of jwksURL and jwks"}},
		{"jwt issuer", head + "spec: {auth: {jwt: {enable: true, jwks: '{}'}}}", []string{"spec.auth.jwt", "issuer is required"}},
		{"jwt url", head + "spec: {auth: {jwt: {jwksURL: 'ftp://x'}}}", []string{"spec.auth.jwt.jwksURL"}},
		{"resources", head + "spec: {sidecar: {resources: {limits: {cpu: lots}}}}", []string{"spec.sidecar.resources.limits.cpu"}},
		{"unknown field", head + "spec: {traffic: {egress: true}}", []string{"unknown field", "spec.traffic.egress"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := createStrict(t, ns, tt.doc)
			if err == nil {
				t.Fatal("the API server accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	// And the same file, valid, is accepted.
	valid := head + `spec:
  sidecar: {logLevel: debug, resources: {limits: {cpu: 500m, memory: 128Mi}}}
  traffic: {inboundPortExclusionList: [9090], outboundPortExclusionList: [25], outboundIPRangeExclusionList: [10.0.0.0/8, "fd00::/8"]}
  observability: {tracing: {enable: true, address: jaeger.tracing, port: 4317, endpoint: /v1/traces}}
  auth: {jwt: {enable: true, issuer: https://issuer, audiences: [books], jwksURL: https://issuer/keys}}
`
	if err := createStrict(t, ns, valid); err != nil {
		t.Fatalf("valid MeshConfig refused: %v", err)
	}
}

// createStrict creates with field validation Strict, so unknown fields are
// errors as they are for kubectl apply.
func createStrict(t *testing.T, ns, doc string) error {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	_, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(ns).Create(testenv.Context(t), u,
		metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict, DryRun: []string{metav1.DryRunAll}})
	return err
}

func TestSMICRDs(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	tt := schema.GroupVersionResource{Group: "access.smi-spec.io", Version: "v1alpha3", Resource: "traffictargets"}
	rg := schema.GroupVersionResource{Group: "specs.smi-spec.io", Version: "v1alpha4", Resource: "httproutegroups"}

	good := []struct {
		gvr schema.GroupVersionResource
		doc string
	}{
		{tt, `apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: bookstore}
spec:
  destination: {kind: ServiceAccount, name: bookstore, namespace: ` + ns + `}
  rules: [{kind: HTTPRouteGroup, name: bookstore-service-routes, matches: [buy-a-book]}]
  sources: [{kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}]`},
		{rg, `apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: bookstore-service-routes}
spec:
  matches:
  - name: buy-a-book
    pathRegex: ".*a-book.*new"
    methods: [GET]
    headers: {user-agent: ".*-http-client/*.*"}`},
	}
	for _, g := range good {
		if err := create(t, g.gvr, ns, g.doc); err != nil {
			t.Errorf("valid %s refused: %v", g.gvr.Resource, err)
		}
	}

	bad := []struct {
		name string
		gvr  schema.GroupVersionResource
		doc  string
		want string
	}{
		{"destination kind", tt, "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {name: a}\nspec: {destination: {kind: Pod, name: x}}", "spec.destination.kind"},
		{"no destination", tt, "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {name: b}\nspec: {sources: []}", "spec.destination"},
		{"rule kind", tt, "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\nmetadata: {name: c}\nspec: {destination: {kind: ServiceAccount, name: x}, rules: [{kind: Route, name: r}]}", "spec.rules[0].kind"},
		{"method", rg, "apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: {name: d}\nspec: {matches: [{name: m, methods: [FETCH]}]}", "spec.matches[0].methods[0]"},
		{"match name", rg, "apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\nmetadata: {name: e}\nspec: {matches: [{pathRegex: /}]}", "spec.matches[0].name"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			err := create(t, b.gvr, ns, b.doc)
			if err == nil || !strings.Contains(err.Error(), b.want) {
				t.Errorf("error %v, want one naming %s", err, b.want)
			}
		})
	}
}

func TestGet(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ctx := testenv.Context(t)
	dc := env.Clients.Dynamic

	empty := env.Namespace(t, nil)
	_, err := meshconfig.GetMesh(ctx, dc, "blue", empty)
	var ni *meshconfig.NotInstalledError
	if !errors.As(err, &ni) || err.Error() != `no mesh "blue" installed in namespace "`+empty+`": run meshctl install` {
		t.Errorf("GetMesh in an empty namespace: %v", err)
	}

	ns := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, dc, "blue", ns)
	mc, err := meshconfig.GetMesh(ctx, dc, "blue", ns)
	if err != nil || !mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode {
		t.Errorf("GetMesh = %+v, %v", mc, err)
	}
	if _, err := meshconfig.GetMesh(ctx, dc, "green", ns); err == nil || !strings.Contains(err.Error(), `holds mesh "blue", not "green"`) {
		t.Errorf("GetMesh of another mesh's namespace: %v", err)
	}

	cfg, _ := env.User(t, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}})
	limited, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = meshconfig.Get(ctx, limited, ns)
	var fe *kube.ForbiddenError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "may not get meshconfigs.config.meshctl.io in namespace \""+ns+"\"") {
		t.Errorf("Get as a user without access: %v", err)
	}
}
