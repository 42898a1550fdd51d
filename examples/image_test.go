package examples

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"testing"
)

// TestImageScriptBuildsTheImage runs hack/images/examples.sh and reads the
// tarball back: one image tagged Image, running as 65532:65532, whose layer
// holds the six programs, executable.
func TestImageScriptBuildsTheImage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "examples.tar")
	cmd := exec.Command("bash", "hack/images/examples.sh", out)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/images/examples.sh: %v\n%s", err, b)
	}
	tarball, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files := untar(t, tar.NewReader(bytes.NewReader(tarball)), nil)
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("manifest.json %s: %v", files["manifest.json"], err)
	}
	m := manifest[0]
	if !slices.Equal(m.RepoTags, []string{Image}) || len(m.Layers) != 1 {
		t.Errorf("tags %q, %d layers; want [%s] and 1", m.RepoTags, len(m.Layers), Image)
	}
	var config struct {
		OS, Architecture string
		Config           struct {
			User       string
			Entrypoint []string
		}
	}
	if err := json.Unmarshal(files[m.Config], &config); err != nil {
		t.Fatalf("config %s: %v", m.Config, err)
	}
	// Built for this machine's architecture unless IMAGE_ARCH says otherwise.
	if config.Config.User != "65532:65532" || config.OS != "linux" || config.Architecture != runtime.GOARCH {
		t.Errorf("config %+v, want user 65532:65532 on linux/%s", config, runtime.GOARCH)
	}

	gz, err := gzip.NewReader(bytes.NewReader(files[m.Layers[0]]))
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]int64{}
	untar(t, tar.NewReader(gz), modes)
	var programs []string
	for name, mode := range modes {
		if mode&0o111 != 0 && filepath.Dir(name) == "." && name != "tmp" {
			programs = append(programs, name)
		}
	}
	sort.Strings(programs)
	if want := []string{"bookbuyer", "books", "bookstore", "bookthief", "fetch", "stars"}; !slices.Equal(programs, want) {
		t.Errorf("executables at / %v, want %v (all entries: %v)", programs, want, modes)
	}
}

// untar reads a tar stream's regular files into memory, and every entry's
// mode into modes if it is not nil.
func untar(t *testing.T, tr *tar.Reader, modes map[string]int64) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		if modes != nil {
			modes[name] = h.Mode
		}
		if h.Typeflag == tar.TypeReg {
			if files[name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}
