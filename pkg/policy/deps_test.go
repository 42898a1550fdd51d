package policy

import (
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
)

// TestLinksOnlyTheStandardLibraryAndIdentity keeps the package fit for
// mesh-proxy, which links it: besides the standard library it may link
// pkg/identity (and internal/refusal, which that links), and nothing else,
// least of all a Kubernetes client library or gRPC.
func TestLinksOnlyTheStandardLibraryAndIdentity(t *testing.T) {
	deps := godeps.Paths(godeps.List(t, "."))
	const self = "github.com/meshctl/meshctl/pkg/policy"
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps did not list the package's dependencies: %v", deps)
	}
	allowed := map[string]bool{
		"github.com/meshctl/meshctl/pkg/identity":     true,
		"github.com/meshctl/meshctl/internal/refusal": true,
	}
	for _, d := range deps[:len(deps)-1] {
		if !godeps.IsStandard(d) && !allowed[d] {
			t.Errorf("pkg/policy depends on %s: it may link only the standard library and pkg/identity, because mesh-proxy links it", d)
		}
	}
}
