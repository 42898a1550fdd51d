package inject

import (
	"testing"

	"github.com/meshctl/meshctl/pkg/meshconfig"
	"github.com/meshctl/meshctl/pkg/proxyconfig"

	_ "github.com/meshctl/meshctl/internal/golden"
)

// testVersion stands for this build in the tests' expectations, so that
// they do not change with the version being developed.
const testVersion = "v0.2.0"

// testInjector is the injector of a default mesh at version v.
func testInjector(t testing.TB, v string) *Injector {
	t.Helper()
	spec := meshconfig.DefaultSpec()
	spec.Sidecar.Image = proxyconfig.ImageRepository + ":" + v
	in, err := New(spec, meshconfig.DefaultMeshName, meshconfig.DefaultMeshNamespace)
	if err != nil {
		t.Fatal(err)
	}
	in.Version = v
	return in
}
