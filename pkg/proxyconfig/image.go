package proxyconfig

import (
	"fmt"

	"github.com/distribution/reference"
)

// SameImage reports whether two image references name the same image, as a
// container runtime resolves them: "mesh-proxy" is docker.io/library/mesh-proxy:latest.
// When either names a digest, the digests must be equal, since a digest
// pins content and a tag does not; otherwise the repositories and tags must
// be. `meshctl check` and `meshctl proxy status` compare a running proxy's
// image with the MeshConfig's (Config.Image) with it.
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

// ParseImage parses an image reference as a container runtime does, the
// tag defaulting to latest.
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
