// Package godeps lists what a Go package links, for the tests that keep
// binaries and packages lean: mesh-proxy without Kubernetes, gRPC or the
// protobuf runtime, mesh-controller without the manifest printer,
// pkg/identity and pkg/version on the standard library. One `go list -deps`
// runner for all of them, so they read the same facts the same way.
package godeps

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// Package is one package that a build links.
type Package struct {
	// Path is its import path.
	Path string
	// Imports are the import paths it imports directly.
	Imports []string
}

// List returns the packages that the package in dir links, in `go list
// -deps` order: dependencies first, the package itself last. Test-only
// imports are not listed, because no binary links them. The test fails when
// the go tool is missing or lists nothing.
func List(t testing.TB, dir string) []Package {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go tool is needed to list %s's dependencies: %v", dir, err)
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps in %s: %v\n%s", dir, err, stderr)
	}
	var pkgs []Package
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			pkgs = append(pkgs, Package{Path: f[0], Imports: f[1:]})
		}
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list -deps in %s listed nothing", dir)
	}
	return pkgs
}

// Paths returns the import paths of pkgs, in order.
func Paths(pkgs []Package) []string {
	out := make([]string, len(pkgs))
	for i, p := range pkgs {
		out[i] = p.Path
	}
	return out
}

// IsStandard reports whether path is in the standard library: its first
// element has no dot (the standard library's vendored golang.org/x copies,
// under vendor/, included).
func IsStandard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
