// Command mkimage writes a single-layer container image of static binaries on
// an empty base as a `docker save` tarball, which `ctr images import` loads.
// It is how every image of the local cluster is made: no base image, no
// registry, no Docker engine.
//
//	mkimage -tag example.test/app:v1 -o app.tar -file bin/app=/app -entrypoint /app
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type options struct {
	tag        string
	out        string
	files      map[string]string // destination path in the image -> source path
	entrypoint []string
	user       string
	env        []string
	arch       string
}

func main() {
	o := options{files: map[string]string{}}
	flag.StringVar(&o.tag, "tag", "", "image reference the tarball carries, e.g. ghcr.io/meshctl/mesh-proxy:v1")
	flag.StringVar(&o.out, "o", "", "output tarball")
	flag.Func("file", "SRC=/DST: copy file SRC to /DST in the image, mode 0755 (repeatable)", func(v string) error {
		src, dst, ok := strings.Cut(v, "=")
		if !ok || src == "" || !path.IsAbs(dst) {
			return fmt.Errorf("want SRC=/DST, got %q", v)
		}
		o.files[path.Clean(dst)] = src
		return nil
	})
	flag.Func("entrypoint", "entrypoint argument (repeatable, in order)", func(v string) error {
		o.entrypoint = append(o.entrypoint, v)
		return nil
	})
	flag.Func("env", "KEY=VALUE in the image's environment (repeatable)", func(v string) error {
		o.env = append(o.env, v)
		return nil
	})
	flag.StringVar(&o.user, "user", "", "user the entrypoint runs as (UID[:GID])")
	flag.StringVar(&o.arch, "arch", "amd64", "the binaries' architecture (GOARCH): amd64 or arm64")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.tag == "" || o.out == "" || len(o.files) == 0 || len(o.entrypoint) == 0 {
		return fmt.Errorf("-tag, -o, -file and -entrypoint are required")
	}
	if o.arch == "" {
		o.arch = "amd64"
	}
	if o.arch != "amd64" && o.arch != "arm64" {
		return fmt.Errorf("-arch %q: want amd64 or arm64, the GOARCH the binaries were built for", o.arch)
	}
	ref, err := name.NewTag(o.tag)
	if err != nil {
		return fmt.Errorf("-tag %q: %w", o.tag, err)
	}
	layerTar, err := layer(o.files)
	if err != nil {
		return err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	// containerd imports only images for its own platform, so the label
	// must match the binaries (and the node).
	cf.OS, cf.Architecture = "linux", o.arch
	cf.Config = v1.Config{
		Entrypoint: o.entrypoint,
		Env:        append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, o.env...),
		User:       o.user,
		WorkingDir: "/",
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tmp := o.out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return fmt.Errorf("writing %s: %w", o.out, err)
	}
	return os.Rename(tmp, o.out)
}

// layer returns a tar stream holding the files, their parent directories and
// a world-writable /tmp, with fixed owners and times so that the same inputs
// give the same image digest.
func layer(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{"tmp": true}
	dsts := make([]string, 0, len(files))
	for dst := range files {
		dsts = append(dsts, dst)
		for d := path.Dir(dst); d != "/"; d = path.Dir(d) {
			dirs[strings.TrimPrefix(d, "/")] = true
		}
	}
	sort.Strings(dsts)
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList) // parents sort before their children
	for _, d := range dirList {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode}); err != nil {
			return nil, err
		}
	}
	for _, dst := range dsts {
		data, err := os.ReadFile(files[dst])
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dst, "/"), Mode: 0o755, Size: int64(len(data))}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
