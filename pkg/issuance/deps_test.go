package issuance

import (
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
	_ "github.com/meshctl/meshctl/internal/golden"
)

// TestLinksOnlyTheStandardLibrary keeps the package fit for mesh-proxy:
// it must bring in no Kubernetes client library (nor anything else outside
// the standard library).
func TestLinksOnlyTheStandardLibrary(t *testing.T) {
	deps := godeps.Paths(godeps.List(t, "."))
	const self = "github.com/meshctl/meshctl/pkg/issuance"
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps did not list the package's dependencies: %v", deps)
	}
	for _, d := range deps[:len(deps)-1] {
		if !godeps.IsStandard(d) {
			t.Errorf("pkg/issuance depends on %s: it must link only the standard library, because mesh-proxy links it", d)
		}
	}
}
