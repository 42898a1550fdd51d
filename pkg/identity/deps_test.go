package identity

import (
	"strings"
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
)

// TestLinksOnlyTheStandardLibrary keeps the package fit for mesh-proxy,
// which runs in every meshed pod: the identity code must not bring in
// Kubernetes, gRPC or a SPIFFE library (go-spiffe links gRPC), so it may
// import the standard library and golang.org/x/crypto, nothing else.
// Tests may import more (go-spiffe is the ID parser's reference); `go list
// -deps` without -test lists only what a binary links.
func TestLinksOnlyTheStandardLibrary(t *testing.T) {
	deps := godeps.Paths(godeps.List(t, "."))
	const self = "github.com/meshctl/meshctl/pkg/identity"
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps did not list the package's dependencies: %v", deps)
	}
	for _, d := range deps[:len(deps)-1] {
		// internal/refusal is ours and links the standard library only.
		if godeps.IsStandard(d) || strings.HasPrefix(d, "golang.org/x/crypto/") || d == "github.com/meshctl/meshctl/internal/refusal" {
			continue
		}
		t.Errorf("pkg/identity depends on %s: it must link only the standard library and golang.org/x/crypto, because mesh-proxy links it", d)
	}
}
