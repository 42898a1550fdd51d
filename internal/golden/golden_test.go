package golden

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const importPath = `"github.com/meshctl/meshctl/internal/golden"`

// TestEveryTestPackageImportsGolden keeps `go test ./... -update` working:
// a test package that does not import this one does not know -update.
func TestEveryTestPackageImportsGolden(t *testing.T) {
	root := filepath.Join("..", "..")
	testDirs := map[string]bool{}
	importing := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "hack" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		testDirs[dir] = true
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), importPath) || dir == "." {
			importing[dir] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(testDirs) < 2 {
		t.Fatalf("found %d test packages; the walk is broken", len(testDirs))
	}
	for dir := range testDirs {
		if !importing[dir] && filepath.Base(dir) != "golden" {
			t.Errorf("test package %s does not import %s; `go test ./... -update` would fail there (add `_ %s` to one of its test files)", dir, importPath, importPath)
		}
	}
}
