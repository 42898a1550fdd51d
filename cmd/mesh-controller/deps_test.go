package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/meshctl/meshctl/"

// TestLinksOnlyTheInjectionEngine keeps the manifest reader and printer of
// `meshctl inject` out of the control plane: the webhook gets pods as JSON
// and returns the engine's patch as it is, so pkg/inject/manifest (its node
// tree, printers and YAML readers) would be code it links and never runs.
// Kubernetes' own libraries link yaml.v3 regardless; what this test forbids
// is a package of ours reading YAML with it on the controller's behalf.
func TestLinksOnlyTheInjectionEngine(t *testing.T) {
	imports := controllerImports(t)
	if _, ok := imports[module+"pkg/inject"]; !ok {
		t.Fatalf("mesh-controller does not link %spkg/inject: the webhook should inject with the engine", module)
	}
	for pkg, imps := range imports {
		if pkg == module+"pkg/inject/manifest" || strings.HasPrefix(pkg, module+"pkg/inject/manifest/") {
			t.Errorf("mesh-controller links %s; the webhook needs only the engine, pkg/inject", pkg)
			continue
		}
		if !strings.HasPrefix(pkg, module) {
			continue
		}
		for _, imp := range imps {
			if imp == "go.yaml.in/yaml/v3" || imp == "gopkg.in/yaml.v3" {
				t.Errorf("%s, linked by mesh-controller, imports %s: reading manifests belongs in pkg/inject/manifest", pkg, imp)
			}
		}
	}
}

// controllerImports maps each package mesh-controller links to the packages
// it imports directly.
func controllerImports(t *testing.T) map[string][]string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list mesh-controller's dependencies: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	imports := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 0 {
			imports[f[0]] = f[1:]
		}
	}
	if _, ok := imports[module+"cmd/mesh-controller"]; !ok || len(imports) < 10 {
		t.Fatalf("go list -deps did not list mesh-controller's dependencies:\n%s", out)
	}
	return imports
}
