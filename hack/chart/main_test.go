package main

import (
	"os"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
)

// TestPackage packages the chart stamped with a version, in place of an
// older package, and loads it back as helm would. (The push goes through
// Helm's own registry client; `make release-check` pushes to a registry in
// memory and reads the chart back.)
func TestPackage(t *testing.T) {
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "mesh-1.2.2.tgz"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
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
	if left, _ := filepath.Glob(filepath.Join(out, "*.tgz")); len(left) != 1 {
		t.Errorf("packages in the output: %v, want the new one alone", left)
	}
	if ch.Metadata.Version != "1.2.3" || ch.Metadata.AppVersion != "v1.2.3" {
		t.Errorf("packaged chart %s, appVersion %s", ch.Metadata.Version, ch.Metadata.AppVersion)
	}
	if _, _, err := run(options{dir: "../../charts/mesh", version: "v1.2.3", out: out, push: "https://registry.example"}); err == nil {
		t.Error("a push to a non-oci:// reference was accepted")
	}
}
