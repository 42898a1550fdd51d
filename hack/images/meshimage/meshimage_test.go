package meshimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestBaseIsPinned: the base is rebuilt byte for byte, so its digest is
// the pinned one; a change of base is a change of BaseDigests.
func TestBaseIsPinned(t *testing.T) {
	for _, arch := range Arches {
		for range 2 {
			img, err := Base(arch)
			if err != nil {
				t.Fatal(err)
			}
			d, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			if d.String() != BaseDigests[arch] {
				t.Errorf("base for %s is %s, pinned %s: if the change is meant, pin the new digest", arch, d, BaseDigests[arch])
			}
		}
	}
	if _, err := Base("s390x"); err == nil {
		t.Error("an unsupported arch built a base")
	}
}

// goBinary builds a small Go program of this module for linux/arch, with
// the binaries the images carry beside their own (Spec.Also) next to it.
func goBinary(t *testing.T, arch string) string {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./pause")
	cmd.Dir = ".."
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Specs {
		for _, also := range s.Also {
			if err := os.WriteFile(filepath.Join(dir, also+"_linux_"+arch), data, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return out
}

// TestPushToARegistry pushes both images to a registry on loopback and
// reads them back: an index of both arches, each image the pinned base plus
// one layer with the binary at /usr/local/bin, the controller's user, and
// the entrypoint the pod spec relies on.
func TestPushToARegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	if !strings.HasPrefix(host, "127.0.0.1:") {
		t.Fatalf("registry on %s, not loopback", host)
	}
	bins := map[string]string{"amd64": goBinary(t, "amd64"), "arm64": goBinary(t, "arm64")}
	ctx := context.Background()
	for _, s := range Specs {
		ref, err := name.NewTag(host+"/team/"+s.Name+":v1.2.3", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := Index(s, bins)
		if err != nil {
			t.Fatal(err)
		}
		if err := Push(ctx, ref, idx); err != nil {
			t.Fatal(err)
		}
		docs := map[string][]byte{"amd64": []byte(`{"name":"amd64"}`), "arm64": []byte(`{"name":"arm64"}`)}
		if _, err := AttachSBOMs(ctx, ref.Repository, idx, map[string][]byte{"amd64": docs["amd64"]}); err == nil {
			t.Errorf("%s: an image without its SBOM was published", s.Name)
		}
		tags, err := AttachSBOMs(ctx, ref.Repository, idx, docs)
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) != 2 {
			t.Fatalf("%s: %d SBOMs attached, want 2", s.Name, len(tags))
		}
		pulled, err := remote.Index(ref)
		if err != nil {
			t.Fatal(err)
		}
		im, err := pulled.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != 2 {
			t.Fatalf("%s: %d manifests, want 2", s.Name, len(im.Manifests))
		}
		for _, m := range im.Manifests {
			arch := m.Platform.Architecture
			img, err := pulled.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != "linux" || cf.Architecture != arch || cf.Config.User != s.User || strings.Join(cf.Config.Entrypoint, " ") != "/usr/local/bin/"+s.Name {
				t.Errorf("%s/%s config: os %s arch %s user %q entrypoint %v", s.Name, arch, cf.OS, cf.Architecture, cf.Config.User, cf.Config.Entrypoint)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			base, _ := Base(arch)
			baseLayers, _ := base.Layers()
			bd, _ := baseLayers[0].Digest()
			if d, _ := layers[0].Digest(); len(layers) != 2 || d != bd {
				t.Errorf("%s/%s: layers %d, first %s; want the base's %s and one more", s.Name, arch, len(layers), d, bd)
			}
			sbom, err := remote.Image(SBOMTag(ref.Repository, m.Digest))
			if err != nil {
				t.Fatalf("%s/%s: no SBOM attached at %s: %v", s.Name, arch, SBOMTag(ref.Repository, m.Digest), err)
			}
			sl, err := sbom.Layers()
			if err != nil || len(sl) != 1 {
				t.Fatalf("%s/%s: SBOM layers %d, %v", s.Name, arch, len(sl), err)
			}
			mt, _ := sl[0].MediaType()
			rc, err := sl[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			doc, _ := io.ReadAll(rc)
			rc.Close()
			if mt != SBOMMediaType || string(doc) != string(docs[arch]) {
				t.Errorf("%s/%s: attached SBOM %s %q, want %s %q", s.Name, arch, mt, doc, SBOMMediaType, docs[arch])
			}
			files := extract(t, img)
			for _, name := range append([]string{s.Name}, s.Also...) {
				if _, ok := files["usr/local/bin/"+name]; !ok {
					t.Errorf("%s/%s: no /usr/local/bin/%s", s.Name, arch, name)
				}
			}
			if !strings.Contains(string(files["etc/ssl/certs/ca-certificates.crt"]), "BEGIN CERTIFICATE") || !strings.Contains(string(files["etc/passwd"]), "nonroot:x:65532") {
				t.Errorf("%s/%s: the base's files are missing", s.Name, arch)
			}
		}
	}
}

// extract reads the flattened filesystem of img.
func extract(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = data
	}
}

func TestSPDX(t *testing.T) {
	bin := goBinary(t, "amd64")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := SPDX(&b, "pause_linux_amd64", data); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name string `json:"name"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) == 0 || doc.Packages[0].Name != "github.com/meshctl/meshctl/hack/images" {
		t.Errorf("SBOM %s", b.String())
	}
	var again bytes.Buffer
	_ = SPDX(&again, "pause_linux_amd64", data)
	if !bytes.Equal(b.Bytes(), again.Bytes()) {
		t.Error("the same binary gave two SBOMs")
	}
	if err := SPDX(io.Discard, "x", []byte("#!/bin/sh\n")); err == nil {
		t.Error("a script passed as a Go binary")
	}
}
