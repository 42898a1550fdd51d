package main

import (
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/internal/testenv"
	"github.com/meshctl/meshctl/pkg/meshconfig"
)

func TestInstallDryRunNeedsNoCluster(t *testing.T) {
	r := executeCommand(t, nil, "install --dry-run --set controller.replicas=3")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"kind: CustomResourceDefinition", "kind: MeshConfig", "kind: MutatingWebhookConfiguration", "replicas: 3", "namespace: mesh-system"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	if strings.Index(r.stdout, "kind: CustomResourceDefinition") > strings.Index(r.stdout, "kind: MeshConfig") {
		t.Error("the CRDs do not come before the MeshConfig")
	}

	r = executeCommand(t, nil, "install --dry-run -o json --mesh-name blue --mesh-namespace blue-system")
	var list struct {
		Kind  string                   `json:"kind"`
		Items []map[string]interface{} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || r.code != 0 {
		t.Fatalf("-o json: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	if list.Kind != "List" || len(list.Items) < 10 {
		t.Errorf("-o json: kind %q with %d items", list.Kind, len(list.Items))
	}
}

func TestInstallUsageErrorsGolden(t *testing.T) {
	tests := []struct{ name, args string }{
		{"install-bad-dry-run", "install --dry-run=sometimes"},
		{"install-bad-output", "install --dry-run -o table2"},
		{"install-bad-mesh-name", "install --dry-run --mesh-name Blue_Mesh"},
		{"install-unknown-value", "install --dry-run --set controller.replicaz=2"},
		{"install-wrong-type", "install --dry-run --set meshConfig.traffic.enableEgress=maybe"},
		{"install-missing-values-file", "install --dry-run -f testdata/no-such-values.yaml"},
		{"uninstall-purge-needs-yes", "uninstall --purge"},
		{"uninstall-needs-yes", "uninstall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := executeCommand(t, nil, tt.args)
			if r.code == 0 || r.stdout != "" {
				t.Errorf("exit %d with stdout %q; want a failure and no stdout", r.code, r.stdout)
			}
			assertGolden(t, tt.name, r)
		})
	}
}

func TestInstallHelpGolden(t *testing.T) {
	for _, cmd := range []string{"install", "upgrade", "uninstall"} {
		assertGolden(t, cmd+"-help", executeCommand(t, nil, cmd+" --help"))
	}
}

// The operator's journey through the commands against the API server. The
// wait is off, as no kubelet runs pods here; pkg/install tests the wait.
func TestInstallUpgradeUninstallCommands(t *testing.T) {
	ns := env.Namespace(t, nil)
	mesh := testenv.UniqueName("mesh")
	flags := " --mesh-name " + mesh + " --mesh-namespace " + ns + " --wait=false"
	stable := func(r result) result {
		r.stdout = strings.NewReplacer(mesh, "MESH", ns, "NAMESPACE").Replace(r.stdout)
		r.stderr = strings.NewReplacer(mesh, "MESH", ns, "NAMESPACE").Replace(r.stderr)
		return r
	}

	r := executeCommand(t, kubeEnv(), "install --set controller.logLevel=debug"+flags)
	assertGolden(t, "install-cluster", stable(r))
	t.Cleanup(func() { executeCommand(t, kubeEnv(), "uninstall --yes"+" --mesh-name "+mesh+" --mesh-namespace "+ns) })

	r = executeCommand(t, kubeEnv(), "install"+flags)
	if r.code != 1 || !strings.Contains(r.stderr, "meshctl upgrade") {
		t.Errorf("second install: exit %d, stderr:\n%s", r.code, r.stderr)
	}

	r = executeCommand(t, kubeEnv(), "upgrade --dry-run --set controller.replicas=2"+flags)
	assertGolden(t, "upgrade-dry-run", stable(r))

	r = executeCommand(t, kubeEnv(), "upgrade --set controller.replicas=2"+flags)
	if r.code != 0 || !strings.Contains(r.stdout, "release/"+mesh+" upgraded (revision 2)") {
		t.Errorf("upgrade: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	dep, err := env.Clients.Kube.AppsV1().Deployments(ns).Get(testenv.Context(t), meshconfig.ControllerName, metav1.GetOptions{})
	if err != nil || *dep.Spec.Replicas != 2 || !strings.Contains(strings.Join(dep.Spec.Template.Spec.Containers[0].Args, " "), "--log-level=debug") {
		t.Errorf("after upgrade: %v, %v", dep.Spec, err)
	}

	r = executeCommand(t, kubeEnv(), "uninstall --yes -o json --mesh-name "+mesh+" --mesh-namespace "+ns)
	var res struct {
		Changes []struct{ Kind, Name, Verb string } `json:"changes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
		t.Fatalf("uninstall -o json: exit %d, %v\n%s", r.code, err, r.stderr)
	}
	if last := res.Changes[len(res.Changes)-1]; last.Kind != "release" || last.Verb != "uninstalled" {
		t.Errorf("uninstall changes end with %+v", last)
	}
}
