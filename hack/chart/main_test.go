package main

import (
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// TestPackage packages the chart stamped with a version and loads it back
// as helm would. (The push goes through Helm's own registry client; it was
// tried against go-containerregistry's registry on loopback by hand, which
// this module does not link.)
func TestPackage(t *testing.T) {
	out := t.TempDir()
	path, ref, err := run(options{dir: "../../charts/mesh", version: "v1.2.3", out: out})
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(out, "mesh-1.2.3.tgz") || ref != "" {
		t.Errorf("path %s, ref %s", path, ref)
	}
	ch, err := loader.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.Version != "1.2.3" || ch.Metadata.AppVersion != "v1.2.3" {
		t.Errorf("packaged chart %s, appVersion %s", ch.Metadata.Version, ch.Metadata.AppVersion)
	}
	if _, _, err := run(options{dir: "../../charts/mesh", version: "v1.2.3", out: out, push: "https://registry.example"}); err == nil {
		t.Error("a push to a non-oci:// reference was accepted")
	}
}
