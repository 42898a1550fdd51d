package main

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/meshconfig/meshconfigtest"
)

// injectCases is where the inject golden inputs live.
const injectCases = "../../pkg/inject/manifest/testdata/inject/"

func readCase(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(injectCases + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInjectCommand runs `meshctl inject` and `uninject` end to end and
// compares exit code, stdout and stderr with testdata/inject/*.golden.
func TestInjectCommand(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"file", "", []string{"inject", "-f", injectCases + "real-bookstore.yaml"}},
		{"stdin", readCase(t, "pod.yaml"), []string{"inject"}},
		{"stdin-dash-and-file", readCase(t, "pod.yaml"), []string{"inject", "-f", "-", "-f", injectCases + "deployment.json"}},
		{"dir", "", []string{"inject", "-f", "testdata/inject/dir"}},
		{"dir-recursive", "", []string{"inject", "-f", "testdata/inject/dir", "-R"}},
		{"quiet", readCase(t, "pod.yaml"), []string{"inject", "-q"}},
		{"skips", "", []string{"inject", "-f", injectCases + "skip-hostnetwork.yaml", "-f", injectCases + "not-workloads.yaml"}},
		{"strict", "", []string{"inject", "--strict", "-f", injectCases + "skip-hostnetwork.yaml"}},
		{"enrol", "", []string{"inject", "--enrol-namespaces", "-f", injectCases + "enrol-namespaces.yaml"}},
		{"enrol-other-mesh", "", []string{"inject", "--enrol-namespaces", "-f", injectCases + "error-enrol-other-mesh.yaml"}},
		{"enrol-other-mesh-force", "", []string{"inject", "--enrol-namespaces", "--force", "-f", injectCases + "enrol-other-mesh-force.yaml"}},
		{"usage-force", "", []string{"inject", "--force", "-f", injectCases + "pod.yaml"}},
		{"mesh-config", readCase(t, "pod.yaml"), []string{"inject", "--mesh-config", "testdata/inject/meshconfig-debug.yaml"}},
		{"error-malformed", "", []string{"inject", "-f", injectCases + "pod.yaml", "-f", injectCases + "error-malformed.yaml"}},
		{"error-annotation", "", []string{"inject", "-f", injectCases + "error-bad-annotation.yaml"}},
		{"error-missing-file", "", []string{"inject", "-f", "testdata/inject/nope.yaml"}},
		{"error-mesh-config", readCase(t, "pod.yaml"), []string{"inject", "--mesh-config", "testdata/inject/meshconfig-bad.yaml"}},
		{"usage-both-sources", "", []string{"inject", "--from-cluster", "--mesh-config", "x.yaml"}},
		{"usage-http", "", []string{"inject", "-f", "http://example.com/app.yaml"}},
		{"usage-argument", "", []string{"inject", "app.yaml"}},
		{"uninject", readCase(t, "uninject-injected.yaml"), []string{"uninject"}},
		{"uninject-usage", "", []string{"uninject", "--enrol-namespaces"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := execute(t, nil, tc.stdin, tc.args...)
			assertGolden(t, "inject/"+tc.name, r)
			if r.code != 0 && r.stdout != "" {
				t.Errorf("exit %d with output on stdout", r.code)
			}
		})
	}
}

// TestInjectUninjectRoundTrip pipes a manifest through both commands.
func TestInjectUninjectRoundTrip(t *testing.T) {
	in := readCase(t, "real-books-stars.yaml")
	r := execute(t, nil, in, "inject", "-q")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("inject: %+v", r)
	}
	again := execute(t, nil, r.stdout, "inject")
	if again.code != 0 || again.stdout != r.stdout || !strings.Contains(again.stderr, "deployment/books unchanged (already injected)") {
		t.Errorf("injecting twice: %+v", again)
	}
	back := execute(t, nil, r.stdout, "uninject")
	if back.code != 0 || back.stdout != in {
		t.Errorf("uninject(inject(x)) != x: %+v", back)
	}
}

// TestInjectFromCluster reads the proxy settings from the live MeshConfig.
func TestInjectFromCluster(t *testing.T) {
	meshconfigtest.InstallCRDs(t, env.Config)
	ns := env.Namespace(t, nil)
	meshconfigtest.InstallMesh(t, env.Clients.Dynamic, meshconfig.DefaultMeshName, ns)
	patch := `{"spec":{"sidecar":{"logLevel":"warn"},"traffic":{"outboundPortExclusionList":[5432]}}}`
	_, err := env.Clients.Dynamic.Resource(meshconfig.GroupVersionResource).Namespace(ns).
		Patch(t.Context(), meshconfig.ObjectName, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := execute(t, kubeEnv(), readCase(t, "pod.yaml"), "inject", "--from-cluster", "--mesh-namespace", ns)
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	for _, want := range []string{"--log-level=warn", "--skip-outbound-ports=5432"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %s:\n%s", want, r.stdout)
		}
	}

	r = execute(t, kubeEnv(), readCase(t, "pod.yaml"), "inject", "--from-cluster", "--mesh-namespace", env.Namespace(t, nil))
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no mesh \"mesh\" installed") {
		t.Errorf("no mesh: %+v", r)
	}
}
