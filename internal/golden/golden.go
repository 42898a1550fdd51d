// Package golden compares test output with files under testdata and rewrites
// them when the tests run with -update (or UPDATE_GOLDEN=1):
//
//	go test ./... -update
//
// Every test package imports it, even one without golden files, because go
// test passes -update to every package and a package that does not define the
// flag would fail; TestEveryTestPackageImportsGolden enforces that.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// update is a flag by necessity: `go test -update` can only reach a test
// binary through its flag set.
var update = flag.Bool("update", false, "rewrite golden files under testdata")

// Updating reports whether golden files are being rewritten.
func Updating() bool { return *update || os.Getenv("UPDATE_GOLDEN") == "1" }

// Assert compares got with the file at path (relative to the test's package
// directory, normally testdata/NAME.golden), or rewrites the file when
// updating. A mismatch shows a line diff.
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if Updating() {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file: %v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("output differs from %s (run with -update to accept it, then review the diff):\n%s", path, Diff(want, got))
	}
}

// AssertString is Assert for strings.
func AssertString(t testing.TB, path, got string) {
	t.Helper()
	Assert(t, path, []byte(got))
}
