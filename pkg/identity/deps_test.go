package identity

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestLinksOnlyTheStandardLibrary keeps the package fit for mesh-proxy,
// which runs in every meshed pod: the identity code must not bring in
// Kubernetes, gRPC or a SPIFFE library (go-spiffe links gRPC), so it may
// import the standard library and golang.org/x/crypto, nothing else.
// Tests may import more (go-spiffe is the ID parser's reference); `go list
// -deps` without -test lists only what a binary links.
func TestLinksOnlyTheStandardLibrary(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list the package's dependencies: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	deps := strings.Fields(string(out))
	const self = "github.com/meshctl/meshctl/pkg/identity"
	if len(deps) < 10 || deps[len(deps)-1] != self {
		t.Fatalf("go list -deps did not list the package's dependencies:\n%s", out)
	}
	for _, d := range deps[:len(deps)-1] {
		first, _, _ := strings.Cut(d, "/")
		// Standard library paths have no dot in their first element
		// (vendor/golang.org/x/... included: it is the standard library's
		// own copy).
		if !strings.Contains(first, ".") || strings.HasPrefix(d, "golang.org/x/crypto/") {
			continue
		}
		t.Errorf("pkg/identity depends on %s: it must link only the standard library and golang.org/x/crypto, because mesh-proxy links it", d)
	}
}
