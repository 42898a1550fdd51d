package main

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestRunWritesImportableImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(out string) string {
		o := options{
			tag:        "meshctl.test/app:1",
			out:        filepath.Join(dir, out),
			files:      map[string]string{"/usr/bin/app": bin},
			entrypoint: []string{"/usr/bin/app", "run"},
			user:       "1500:1500",
		}
		if err := run(o); err != nil {
			t.Fatalf("run: %v", err)
		}
		return o.out
	}
	first, second := write("a.tar"), write("b.tar")

	tag := name.MustParseReference("meshctl.test/app:1").(name.Tag)
	img, err := tarball.ImageFromPath(first, &tag)
	if err != nil {
		t.Fatalf("reading %s back: %v", first, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if got := cf.Config.Entrypoint; len(got) != 2 || got[0] != "/usr/bin/app" || got[1] != "run" {
		t.Errorf("entrypoint %q", got)
	}
	if cf.Config.User != "1500:1500" {
		t.Errorf("user %q", cf.Config.User)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = h
	}
	for _, want := range []string{"tmp/", "usr/", "usr/bin/", "usr/bin/app"} {
		if entries[want] == nil {
			t.Errorf("layer lacks %s; has %v", want, entries)
		}
	}
	if h := entries["usr/bin/app"]; h != nil && h.Mode != 0o755 {
		t.Errorf("usr/bin/app mode %o, want 755", h.Mode)
	}

	// The same inputs give the same image, so re-imports are no-ops.
	img2, err := tarball.ImageFromPath(second, &tag)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := img2.Digest()
	if d1 != d2 {
		t.Errorf("digests differ for the same inputs: %s, %s", d1, d2)
	}
}

func TestRunRejectsMissingFlags(t *testing.T) {
	if err := run(options{tag: "x.test/a:1", out: filepath.Join(t.TempDir(), "o.tar")}); err == nil {
		t.Error("run without -file and -entrypoint succeeded")
	}
}

// TestRunArch: the image is labelled with the binaries' architecture, which
// containerd matches against the node's; anything but amd64 and arm64 is
// refused.
func TestRunArch(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ arch, want string }{{"", "amd64"}, {"amd64", "amd64"}, {"arm64", "arm64"}, {"386", ""}} {
		o := options{tag: "meshctl.test/app:1", out: filepath.Join(dir, "a.tar"), files: map[string]string{"/app": bin}, entrypoint: []string{"/app"}, arch: tc.arch}
		err := run(o)
		if tc.want == "" {
			if err == nil || !strings.Contains(err.Error(), "-arch") {
				t.Errorf("-arch %q: run = %v, want an error naming -arch", tc.arch, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("-arch %q: %v", tc.arch, err)
		}
		tag := name.MustParseReference("meshctl.test/app:1").(name.Tag)
		img, err := tarball.ImageFromPath(o.out, &tag)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil || cf.Architecture != tc.want {
			t.Errorf("-arch %q: architecture %v (%v), want %s", tc.arch, cf.Architecture, err, tc.want)
		}
	}
}
