package version

import (
	"os/exec"
	"strings"
	"testing"

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
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		if strings.Contains(imp, ".") {
			t.Errorf("package version imports %s; it must import the standard library only", imp)
		}
	}
}
