package version

import (
	"testing"

	"github.com/meshctl/meshctl/internal/godeps"
	_ "github.com/meshctl/meshctl/internal/golden"
)

func TestDerivedVersions(t *testing.T) {
	if Version()[0] != 'v' {
		t.Errorf("Version() = %q, want a leading v", Version())
	}
	if ChartVersion() != Version()[1:] {
		t.Errorf("ChartVersion() = %q, want %q", ChartVersion(), Version()[1:])
	}
	if ImageTag() != Version() {
		t.Errorf("ImageTag() = %q, want %q", ImageTag(), Version())
	}
	if info := Get(); info.Version != Version() || info.GoVersion == "" || info.Platform == "" {
		t.Errorf("Get() = %+v", info)
	}
}

// TestLeaf keeps package version free of dependencies: mesh-proxy and
// mesh-controller stamp themselves with it, and the proxy must not link
// client-go (or anything else) through it.
func TestLeaf(t *testing.T) {
	deps := godeps.Paths(godeps.List(t, "."))
	for _, d := range deps[:len(deps)-1] { // the last is the package itself
		if !godeps.IsStandard(d) {
			t.Errorf("package version links %s; it must link the standard library only", d)
		}
	}
}
