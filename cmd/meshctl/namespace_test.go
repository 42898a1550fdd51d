package main

import (
	"encoding/json"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
	"github.com/meshctl/meshctl/pkg/namespace"
)

// installedMesh makes the API server look like one with mesh "mesh"
// installed in a namespace of the test's own, which it returns.
func installedMesh(t *testing.T) string {
	t.Helper()
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, meshconfig.DefaultMeshName, ns)
	return ns
}

func TestNamespaceCommands(t *testing.T) {
	meshNS := installedMesh(t)
	a, b := env.Namespace(t, nil), env.Namespace(t, nil)
	flags := " --mesh-namespace " + meshNS

	r := executeCommand(t, kubeEnv(), "namespace add "+a+" "+b+flags)
	if r.code != 0 || r.stdout != "namespace/"+a+" enrolled\nnamespace/"+b+" enrolled\n" {
		t.Fatalf("add: %+v", r)
	}
	r = executeCommand(t, kubeEnv(), "namespace add "+a+flags)
	if r.code != 0 || r.stdout != "namespace/"+a+" unchanged\n" {
		t.Errorf("add again: %+v", r)
	}

	r = executeCommand(t, kubeEnv(), "namespace list -o json"+flags)
	var l namespace.List
	if err := json.Unmarshal([]byte(r.stdout), &l); r.code != 0 || err != nil || len(l.Namespaces) < 2 {
		t.Errorf("list -o json: %+v (%v)", r, err)
	}
	r = executeCommand(t, kubeEnv(), "ns ls")
	// The API server is shared: other tests' namespaces may be listed,
	// and widen the columns.
	header, _, _ := strings.Cut(r.stdout, "\n")
	if r.code != 0 || strings.Join(strings.Fields(header), " ") != "NAMESPACE MESH SIDECAR-INJECTION INJECTED PODS" || !strings.Contains(r.stdout, a) {
		t.Errorf("ns ls: %+v", r)
	}

	r = executeCommand(t, kubeEnv(), "namespace remove "+a+" "+b+flags)
	if r.code != 0 || r.stdout != "namespace/"+a+" unenrolled\nnamespace/"+b+" unenrolled\n" {
		t.Errorf("remove: %+v", r)
	}
}

func TestNamespaceAddRefusalsExitOne(t *testing.T) {
	meshNS := installedMesh(t)
	ok := env.Namespace(t, nil)
	r := executeCommand(t, kubeEnv(), "namespace add "+ok+" kube-system "+meshNS+" --mesh-namespace "+meshNS)
	if r.code != 1 || r.stdout != "" {
		t.Errorf("exit %d, stdout %q: want 1 and nothing", r.code, r.stdout)
	}
	for _, w := range []string{"Error: no namespace was changed", `namespace "kube-system"`, `namespace "` + meshNS + `"`} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not contain %q", r.stderr, w)
		}
	}
	got, err := env.Clients.Kube.CoreV1().Namespaces().Get(testenv.Context(t), ok, metav1.GetOptions{})
	if err != nil || got.Labels[meshconfig.LabelMonitoredBy] != "" {
		t.Errorf("namespace %s was changed despite the refusals (%v)", ok, err)
	}
}

func TestNamespaceUsageErrors(t *testing.T) {
	for _, tc := range []struct{ name, args string }{
		{"namespace-add-no-args", "namespace add"},
		{"namespace-add-bad-name", "namespace add Bad_Name"},
		{"namespace-list-bad-output", "namespace list -o wide"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertGolden(t, tc.name, executeCommand(t, nil, tc.args))
		})
	}
}

func TestNamespaceAddNoMesh(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	empty, a := env.Namespace(t, nil), env.Namespace(t, nil)
	r := executeCommand(t, kubeEnv(), "namespace add "+a+" --mesh-name blue --mesh-namespace "+empty)
	if want := "Error: no mesh \"blue\" installed in namespace \"" + empty + "\": run meshctl install\n"; r.code != 1 || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1, %q", r.code, r.stderr, want)
	}
}

// TestNamespaceAddForbidden is a user who can read everything meshctl reads
// but may not patch namespaces.
func TestNamespaceAddForbidden(t *testing.T) {
	meshNS := installedMesh(t)
	a := env.Namespace(t, nil)
	_, kubeconfig := env.User(t,
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"namespaces", "pods"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{meshconfig.GroupName}, Resources: []string{meshconfig.Resource}, Verbs: []string{"get"}},
	)
	r := executeCommand(t, map[string]string{"MESHCTL_KUBECONFIG": kubeconfig}, "namespace add "+a+" --mesh-namespace "+meshNS)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, `namespace "`+a+`": forbidden: you may not patch namespaces cluster-wide`) {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
