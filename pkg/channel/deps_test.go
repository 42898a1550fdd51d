package channel

import (
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
	_ "github.com/meshctl/meshctl/internal/golden"
)

// TestLinksOnlyTheStandardLibraryAndIdentity keeps the package fit for
// mesh-proxy: besides the standard library it may link pkg/identity and
// pkg/proxyconfig/wire (and what they link, internal/refusal), and nothing
// else, least of all a Kubernetes client library.
func TestLinksOnlyTheStandardLibraryAndIdentity(t *testing.T) {
	deps := godeps.Paths(godeps.List(t, "."))
	const self = "github.com/meshctl/meshctl/pkg/channel"
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps did not list the package's dependencies: %v", deps)
	}
	allowed := map[string]bool{
		"github.com/meshctl/meshctl/pkg/identity":     true,
		"github.com/meshctl/meshctl/internal/refusal": true,
		// The proxy's own vocabulary (log levels), standard library only.
		"github.com/meshctl/meshctl/pkg/proxyconfig/wire": true,
	}
	for _, d := range deps[:len(deps)-1] {
		if !godeps.IsStandard(d) && !allowed[d] {
			t.Errorf("pkg/channel depends on %s: it may link only the standard library, pkg/identity and pkg/proxyconfig/wire, because mesh-proxy links it", d)
		}
	}
}
