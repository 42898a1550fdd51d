package channel

import (
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
)

// TestLinksOnlyTheStandardLibraryAndTheContract keeps the client fit for
// mesh-proxy before cmd/mesh-proxy's own dependency test covers it: the
// standard library, the wire contract (with the log levels of
// pkg/proxyconfig/wire) and pkg/identity, nothing else.
func TestLinksOnlyTheStandardLibraryAndTheContract(t *testing.T) {
	deps := godeps.Paths(godeps.List(t, "."))
	const self = "github.com/meshctl/meshctl/pkg/proxy/channel"
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps did not list the package's dependencies: %v", deps)
	}
	allowed := map[string]bool{
		"github.com/meshctl/meshctl/pkg/channel":      true,
		"github.com/meshctl/meshctl/pkg/identity":     true,
		"github.com/meshctl/meshctl/internal/refusal": true,
		// The contract's vocabulary of log levels; standard library only.
		"github.com/meshctl/meshctl/pkg/proxyconfig/wire": true,
	}
	for _, d := range deps[:len(deps)-1] {
		if !godeps.IsStandard(d) && !allowed[d] {
			t.Errorf("pkg/proxy/channel depends on %s: mesh-proxy links it, and it may link only the standard library, pkg/channel, pkg/proxyconfig/wire and pkg/identity", d)
		}
	}
}
