//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GoBuild builds a command of this repository (for example ./cmd/meshctl)
// statically, stamped with the same -ldflags as the images, and returns the
// binary's path. The binary lives until the journey ends.
func (e *Env) GoBuild(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(e.journey.TempDir(), filepath.Base(pkg))
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags", e.LDFlags, "-o", out, pkg)
	cmd.Dir = e.RepoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Image builds a command of this repository into an image named ref on an
// empty base and imports it into the cluster's containerd, where pods find it
// without a pull (hack/cluster/image.sh). The flags go to hack/images/mkimage,
// for example "-user", "1500:1500".
func (e *Env) Image(t *testing.T, ref, pkg string, mkimageFlags ...string) {
	t.Helper()
	e.Script(t, "image.sh", append([]string{ref, pkg}, mkimageFlags...)...)
}

// Script runs one of the local cluster's scripts (hack/cluster/NAME), with
// the journey's LDFLAGS for whatever it builds; for example "mesh-images.sh"
// builds and imports the mesh's images, "import.sh" imports image tarballs.
func (e *Env) Script(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := e.command(t, filepath.Join(e.RepoRoot, "hack", "cluster", name), args...)
	cmd.Dir = e.RepoRoot
	cmd.Env = append(cmd.Env, "LDFLAGS="+e.LDFlags)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/cluster/%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
}

// command is a command that ends with the test, with the cluster's
// kubeconfig in its environment.
func (e *Env) command(t *testing.T, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	return cmd
}

// Run runs a command with the cluster's kubeconfig and returns its stdout;
// on failure it fails the test with the command line, exit status and stderr.
func (e *Env) Run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
