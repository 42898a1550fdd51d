package check

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/kube"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func clientsFor(t *testing.T, cfg *rest.Config) *kube.Clients {
	t.Helper()
	c, err := kube.NewClientsForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKubernetesChecks(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, Checks(), "k8s-api-reachable")
	m.expectOK(t, Checks(), "k8s-version")

	// Nothing listens on port 1.
	down := clientsFor(t, &rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	unreachable := newMesh(t, withClients(down))
	unreachable.expectProblem(t, Checks(), "k8s-api-reachable", StatusFail, "cannot reach the Kubernetes API at https://127.0.0.1:1")

	old := newMesh(t, func(c *Config) { c.MinKubernetesVersion = "v1.99.0" })
	old.expectProblem(t, Checks(), "k8s-version", StatusFail, "meshctl needs v1.99.0 or later")
}

func TestPreInstallPermissions(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, PreInstallChecks(), "pre-permissions")

	// A user who may manage workloads but nothing cluster-wide.
	cfg, _ := env.User(t,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{"", "apps"}, Resources: []string{"services", "serviceaccounts", "secrets", "deployments", "pods", "events"}, Verbs: []string{"*"}},
	)
	limited := newMesh(t, withClients(clientsFor(t, cfg)))
	limited.expectProblem(t, PreInstallChecks(), "pre-permissions", StatusFail,
		"the install needs permissions you do not have:",
		"create, delete, get, list, patch clusterroles.rbac.authorization.k8s.io cluster-wide",
		"create, delete, get, list, patch customresourcedefinitions.apiextensions.k8s.io cluster-wide",
		"create, delete, get, list, patch mutatingwebhookconfigurations.admissionregistration.k8s.io cluster-wide",
		"create, delete, get, list, patch meshconfigs.config.meshctl.io in namespace "+`"`+limited.ns+`"`,
	)
	r := limited.run(t, PreInstallChecks(), "pre-permissions")
	if strings.Contains(r.Err.Error(), "deployments") || strings.Contains(r.Err.Error(), "secrets") {
		t.Errorf("permissions the user has are listed as missing: %v", r.Err)
	}
}

// The permissions are derived from the rendered chart: every kind it renders
// is asked about, with the verbs of the install lifecycle.
func TestInstallPermissionsFollowTheChart(t *testing.T) {
	m := newMesh(t)
	perms, err := m.env.installPermissions(testenv.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, p := range perms {
		have[p.Verb+" "+p.qualified()] = true
	}
	for _, obj := range m.env.Chart.allObjects() {
		res, err := m.env.resourceFor(obj)
		if err != nil {
			t.Fatal(err)
		}
		q := res.GVR.Resource
		if res.GVR.Group != "" {
			q += "." + res.GVR.Group
		}
		for _, v := range objectVerbs() {
			if !have[v+" "+q] {
				t.Errorf("%s %s rendered, but %q is not asked", obj.GetKind(), obj.GetName(), v+" "+q)
			}
		}
	}
	if !have["create secrets"] || !have["update secrets"] {
		t.Error("Helm's release storage is not asked")
	}
}

func TestPreInstallDryRun(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, PreInstallChecks(), "pre-dry-run")

	// A user who may create the cluster-scoped objects, but does not hold the
	// permissions the controller's ClusterRole grants: RBAC's escalation
	// check refuses the ClusterRole and its binding, which no
	// SelfSubjectAccessReview can tell.
	cfg, _ := env.User(t, rbacv1.PolicyRule{
		APIGroups: []string{"rbac.authorization.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io"},
		Resources: []string{"clusterroles", "clusterrolebindings", "mutatingwebhookconfigurations", "customresourcedefinitions"},
		Verbs:     []string{"create", "get", "list", "patch", "delete"},
	})
	limited := newMesh(t, withClients(clientsFor(t, cfg)))
	cr := "meshctl-" + limited.name + "-controller"
	limited.expectProblem(t, PreInstallChecks(), "pre-dry-run", StatusFail,
		`clusterrole "`+cr+`"`, "forbidden", `clusterrolebinding "`+cr+`"`)
	r := limited.run(t, PreInstallChecks(), "pre-dry-run")
	if strings.Contains(r.Err.Error(), "mutatingwebhookconfiguration") {
		t.Errorf("the webhook configuration, which the user may create, failed: %v", r.Err)
	}
	// Dry run means nothing was stored.
	if _, err := env.Clients.Kube.RbacV1().ClusterRoles().Get(testenv.Context(t), "meshctl-"+m.name+"-controller", metav1.GetOptions{}); err == nil {
		t.Error("the dry run created a ClusterRole")
	}
}

func TestPreInstallNamespaceFree(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, PreInstallChecks(), "pre-namespace-free")
	m.install(t)
	m.expectProblem(t, PreInstallChecks(), "pre-namespace-free", StatusFail,
		`namespace "`+m.ns+`" already holds a mesh`,
		"deployment "+m.ns+"/mesh-controller of mesh \""+m.name+"\" exists",
		"meshconfig "+m.ns+"/mesh-config", "use `meshctl upgrade`")
}

func TestPreInstallCRDsCompatible(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, PreInstallChecks(), "pre-crds-compatible")

	// Another product's CRD by the name of one of ours (as OSM's SMI CRDs
	// would be), here a CRD of a group of the test's own.
	group := testenv.UniqueName("g") + ".example.com"
	theirs := testCRD(group, "Widget", "widgets", "v1")
	createCRD(t, theirs)
	t.Cleanup(func() {
		_ = env.Clients.Dynamic.Resource(crdGVR()).Delete(context.Background(), theirs.GetName(), metav1.DeleteOptions{})
	})
	conflicting := newMesh(t, withRender(func(ch *Chart) {
		ours := testCRD(group, "Widget", "widgets", "v1")
		ours.SetLabels(map[string]string{meshconfig.LabelPartOf: meshconfig.PartOfValue})
		ch.CRDs = append(ch.CRDs, ours)
	}))
	conflicting.expectProblem(t, PreInstallChecks(), "pre-crds-compatible", StatusFail,
		`customresourcedefinition "widgets.`+group+`" belongs to another owner`)

	// One of ours, whose objects are stored in a version this meshctl does
	// not serve any more.
	renamed := newMesh(t, withRender(func(ch *Chart) {
		for _, crd := range ch.CRDs {
			if crd.GetName() == meshconfig.Resource+"."+meshconfig.GroupName {
				setVersionNames(crd, "v1beta1")
			}
		}
	}))
	renamed.expectProblem(t, PreInstallChecks(), "pre-crds-compatible", StatusFail,
		`customresourcedefinition "meshconfigs.config.meshctl.io" has objects stored as v1alpha1, a version this meshctl does not know (it serves v1beta1)`)
}

// testCRD is a minimal namespaced CRD.
func testCRD(group, kind, plural, version string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": kind, "listKind": kind + "List", "plural": plural, "singular": strings.ToLower(kind)},
			"versions": []any{map[string]any{
				"name": version, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
}

// setVersionNames renames a rendered CRD's versions, in order.
func setVersionNames(crd *unstructured.Unstructured, names ...string) {
	vs, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for i, v := range vs {
		v.(map[string]any)["name"] = names[i]
	}
	_ = unstructured.SetNestedSlice(crd.Object, vs, "spec", "versions")
}

func TestPreInstallPodSecurity(t *testing.T) {
	m := newMesh(t)
	m.expectOK(t, PreInstallChecks(), "pre-pod-security")

	restricted := env.Namespace(t, map[string]string{labelPodSecurityEnforce: "restricted"})
	// Namespaces of deleted tests stay Terminating, labels and all: remove
	// the label so later tests see a clean cluster.
	t.Cleanup(func() {
		patch := []byte(`{"metadata":{"labels":{"` + labelPodSecurityEnforce + `":null}}}`)
		_, _ = env.Clients.Kube.CoreV1().Namespaces().Patch(context.Background(), restricted, "application/merge-patch+json", patch, metav1.PatchOptions{})
	})
	m.expectProblem(t, PreInstallChecks(), "pre-pod-security", StatusWarn,
		restricted+" (restricted)", "mesh-proxy-init needs NET_ADMIN")
}
