package version

import (
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
