package crd

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
)

// TestLinksNoKubernetesLibrary keeps the compiler free of client
// libraries: the controller and meshctl convert objects to these types
// themselves, and Compile stays a pure function any binary can link.
func TestLinksNoKubernetesLibrary(t *testing.T) {
	deps := godeps.Paths(godeps.List(t, "."))
	const self = "github.com/meshctl/meshctl/pkg/policy/crd"
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps did not list the package's dependencies: %v", deps)
	}
	for _, d := range deps[:len(deps)-1] {
		if !godeps.IsStandard(d) && !strings.HasPrefix(d, "github.com/meshctl/meshctl/pkg/identity") && d != "github.com/meshctl/meshctl/pkg/policy" && d != "github.com/meshctl/meshctl/internal/refusal" {
			t.Errorf("pkg/policy/crd depends on %s: it may link only the standard library, pkg/identity and pkg/policy", d)
		}
	}
}
