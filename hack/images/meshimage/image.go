package meshimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Spec is one of the mesh's images: the command it runs and its user.
type Spec struct {
	// Name is the binary's name, the image's repository name and its
	// entrypoint: mesh-proxy or mesh-controller.
	Name string
	// User is the image's user; empty leaves it to the pod spec (the
	// proxy's two containers run as different users).
	User string
	// Also are other binaries the image carries beside its own, found
	// next to it as NAME_linux_ARCH: the controller's carries meshctl,
	// which the chart's `helm test` runs (`meshctl check`), so that the
	// check is of the control plane's own version and needs no image of
	// its own.
	Also []string
}

// Specs are the mesh's two images. The injected containers run
// `mesh-proxy` by name, which PATH finds at /usr/local/bin.
var Specs = []Spec{
	{Name: "mesh-proxy"},
	{Name: "mesh-controller", User: ControllerUser, Also: []string{"meshctl"}},
}

// Image is s built on Base(arch) with the static binary at bin (built for
// linux/arch) at /usr/local/bin/NAME, and those of s.Also beside it.
func Image(s Spec, arch, bin string) (v1.Image, error) {
	files := map[string]file{}
	for _, name := range append([]string{s.Name}, s.Also...) {
		path := bin
		if name != s.Name {
			path = filepath.Join(filepath.Dir(bin), name+"_linux_"+arch)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", s.Name, err)
		}
		files["usr/local/bin/"+name] = file{data: data, mode: 0o755}
	}
	base, err := Base(arch)
	if err != nil {
		return nil, err
	}
	l, err := layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(base, l)
	if err != nil {
		return nil, err
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	c := cf.Config
	c.Entrypoint = []string{"/usr/local/bin/" + s.Name}
	c.User = s.User
	c.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/meshctl/meshctl", "org.opencontainers.image.title": s.Name}
	return withConfig(img, arch, c)
}

// Index is s for every arch of bins (GOARCH -> binary path), as one
// multi-platform index.
func Index(s Spec, bins map[string]string) (v1.ImageIndex, error) {
	var adds []mutate.IndexAddendum
	for _, arch := range Arches {
		bin, ok := bins[arch]
		if !ok {
			continue
		}
		img, err := Image(s, arch, bin)
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	if len(adds) == 0 {
		return nil, fmt.Errorf("image %s: no binary for any of %v", s.Name, Arches)
	}
	return mutate.AppendManifests(empty.Index, adds...), nil
}

// Push writes idx to ref, through ggcr's registry client (no Docker).
func Push(ctx context.Context, ref name.Reference, idx v1.ImageIndex, opts ...remote.Option) error {
	if err := remote.WriteIndex(ref, idx, append(opts, remote.WithContext(ctx))...); err != nil {
		return fmt.Errorf("pushing %s: %w", ref, err)
	}
	return nil
}
