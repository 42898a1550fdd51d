package main

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
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
	imports := map[string][]string{}
	for _, p := range godeps.List(t, ".") {
		imports[p.Path] = p.Imports
	}
	if _, ok := imports[module+"cmd/mesh-controller"]; !ok || len(imports) < 10 {
		t.Fatalf("go list -deps did not list mesh-controller's dependencies: %v", imports)
	}
	return imports
}
