package proxyconfig

import (
	"cmp"
	"fmt"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"

	"github.com/meshctl/meshctl/pkg/meshconfig"
)

// ImageOf is the proxy image a MeshConfig names: the image the injector puts
// in every new pod, and so the one every running proxy is compared with.
func ImageOf(spec meshconfig.MeshConfigSpec) string {
	if c, err := New(spec); err == nil {
		return c.Image
	}
	// A MeshConfig the sidecar cannot be built from still names an image;
	// `meshctl check` reports the MeshConfig itself.
	return cmp.Or(spec.Sidecar.Image, DefaultImage())
}

// SameImage reports whether two image references name the same image, as a
// container runtime resolves them: "mesh-proxy" is
// docker.io/library/mesh-proxy:latest. When either names a digest, the
// digests must be equal, since a digest pins content and a tag does not;
// otherwise the repositories and tags must be.
func SameImage(a, b string) (bool, error) {
	ra, err := ParseImage(a)
	if err != nil {
		return false, err
	}
	rb, err := ParseImage(b)
	if err != nil {
		return false, err
	}
	if ra.Name() != rb.Name() {
		return false, nil
	}
	da, aDigested := ra.(reference.Digested)
	db, bDigested := rb.(reference.Digested)
	if aDigested || bDigested {
		return aDigested && bDigested && da.Digest() == db.Digest(), nil
	}
	return tagOf(ra) == tagOf(rb), nil
}

// ParseImage parses an image reference as a container runtime does,
// defaulting the registry and the tag.
func ParseImage(s string) (reference.Named, error) {
	r, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", s, err)
	}
	return reference.TagNameOnly(r), nil
}

func tagOf(r reference.Named) string {
	if t, ok := r.(reference.Tagged); ok {
		return t.Tag()
	}
	return ""
}

// OutdatedContainers returns the sidecar containers of spec (the proxy and
// its init container) that do not run want, the image the MeshConfig names
// (ImageOf). It is THE rule for an outdated proxy: `meshctl check` fails on
// such a pod, and `meshctl upgrade --restart-proxies` and `meshctl
// namespace restart` roll its workload. A pod without the sidecar has
// none. An image reference that does not parse is an error naming the
// container.
func OutdatedContainers(spec *corev1.PodSpec, want string) ([]*corev1.Container, error) {
	var out []*corev1.Container
	for _, c := range []*corev1.Container{ProxyContainerOf(spec), initContainerOf(spec)} {
		if c == nil {
			continue
		}
		same, err := SameImage(c.Image, want)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		if !same {
			out = append(out, c)
		}
	}
	return out, nil
}

func initContainerOf(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Name == InitContainerName {
			return &spec.InitContainers[i]
		}
	}
	return nil
}
