// Package meshimage builds the mesh's two images, mesh-proxy and
// mesh-controller, the one way: the e2e cluster imports them
// (hack/cluster/mesh-images.sh), `make images REGISTRY=...` pushes them,
// and the release publishes them with `make images`. Each is a static
// binary at /usr/local/bin on Base, a base this package builds itself, byte
// for byte the same everywhere, so that its digest can be pinned
// (BaseDigest) and nothing is pulled from a registry.
package meshimage

import (
	"archive/tar"
	"bytes"
	"encoding/pem"
	"fmt"
	"io"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// BaseDigests pins the base of each platform: the digest of Base(arch).
// TestBaseIsPinned fails when the base changes (a new root bundle, a file
// added), so that a change of base is a reviewed change of these lines.
var BaseDigests = map[string]string{
	"amd64": "sha256:8ae77f51528a2cd17bfce26d75c601f84978f793547f8cd8f06f8f2c7d7037ad",
	"arm64": "sha256:d239ccc75a629d3812162b95c0ffe5d8a3177493365c51433a93ec5ec1b0cd7d",
}

// Arches are the platforms the images are built for (GOARCH, all linux).
var Arches = []string{"amd64", "arm64"}

// The users of the base: root for the proxy's init container, 1500 for the
// proxy (pkg/proxyconfig/wire.ProxyUID; the pod spec sets it) and 65532
// for the controller (the image's user).
const (
	ControllerUser = "65532:65532"
	etcPasswd      = "root:x:0:0:root:/root:/sbin/nologin\nmesh-proxy:x:1500:1500:mesh-proxy:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	etcGroup       = "root:x:0:\nmesh-proxy:x:1500:\nnonroot:x:65532:\n"
)

// Base is the base image for arch: /etc/passwd and /etc/group naming the
// mesh's users, the Mozilla root certificates (for a JWKS fetched over
// HTTPS) from the pinned golang.org/x/crypto/x509roots/fallback module at
// /etc/ssl/certs/ca-certificates.crt, and a world-writable /tmp. No shell,
// no libc: the binaries are static.
func Base(arch string) (v1.Image, error) {
	files := map[string]file{
		"etc/passwd":                        {data: []byte(etcPasswd), mode: 0o644},
		"etc/group":                         {data: []byte(etcGroup), mode: 0o644},
		"etc/ssl/certs/ca-certificates.crt": {data: rootsPEM(), mode: 0o644},
		"home/nonroot/":                     {dir: true, mode: 0o700, uid: 65532},
		"tmp/":                              {dir: true, mode: 0o1777},
	}
	l, err := layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	return withConfig(img, arch, v1.Config{Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}, WorkingDir: "/"})
}

// rootsPEM is the unconstrained roots of the bundle, as PEM: a
// certificate file cannot carry the bundle's few constrained roots'
// constraints, so those are left out, as distributions leave them out.
func rootsPEM() []byte {
	var b bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate})
	}
	return b.Bytes()
}

// file is one entry of a layer.
type file struct {
	data []byte
	mode int64
	dir  bool
	uid  int
}

// layer writes files, with their parent directories, in name order with
// fixed times and owners, so that the same inputs give the same digest.
func layer(files map[string]file) (v1.Layer, error) {
	all := map[string]file{}
	for name, f := range files {
		all[name] = f
		for d := parent(name); d != ""; d = parent(d) {
			if _, ok := all[d]; !ok {
				all[d] = file{dir: true, mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		f := all[n]
		hdr := &tar.Header{Name: n, Mode: f.mode, Uid: f.uid, Gid: f.uid, Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatPAX}
		if f.dir {
			hdr.Typeflag, hdr.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

// parent is the directory entry above name ("etc/ssl/" for
// "etc/ssl/certs/x"), or "" at the top.
func parent(name string) string {
	n := name
	if len(n) > 0 && n[len(n)-1] == '/' {
		n = n[:len(n)-1]
	}
	for i := len(n) - 1; i >= 0; i-- {
		if n[i] == '/' {
			return n[:i+1]
		}
	}
	return ""
}

// withConfig sets the platform and the run configuration; the creation
// time stays the zero time, for reproducible digests.
func withConfig(img v1.Image, arch string, c v1.Config) (v1.Image, error) {
	switch arch {
	case "amd64", "arm64":
	default:
		return nil, fmt.Errorf("architecture %q: want amd64 or arm64", arch)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", arch, c
	return mutate.ConfigFile(img, cf)
}
