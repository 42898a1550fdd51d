package meshimage

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SBOMMediaType is the media type of an attached SPDX JSON document, as
// `cosign attach sbom --type spdxjson` writes it.
const SBOMMediaType types.MediaType = "text/spdx+json"

// SBOMTag is where the SBOM of the image (or index) with digest d is
// attached in repo: cosign's convention, "sha256-HEX.sbom", which
// `cosign download sbom REPO@DIGEST` reads. Attaching beside the image
// rather than inside it keeps the image's digest that of its files alone.
func SBOMTag(repo name.Repository, d v1.Hash) name.Tag {
	return repo.Tag(d.Algorithm + "-" + d.Hex + ".sbom")
}

// AttachSBOMs pushes, for every platform image of idx (already pushed to
// repo), the SBOM of its architecture from docs (arch -> SPDX JSON). An
// image whose architecture has no document is an error: a release
// publishes no image without its SBOM.
func AttachSBOMs(ctx context.Context, repo name.Repository, idx v1.ImageIndex, docs map[string][]byte, opts ...remote.Option) ([]name.Tag, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var tags []name.Tag
	for _, m := range im.Manifests {
		if m.Platform == nil {
			return nil, fmt.Errorf("%s: manifest %s names no platform", repo, m.Digest)
		}
		doc, ok := docs[m.Platform.Architecture]
		if !ok {
			return nil, fmt.Errorf("%s: no SBOM for linux/%s", repo, m.Platform.Architecture)
		}
		img, err := mutate.AppendLayers(empty.Image, static.NewLayer(doc, SBOMMediaType))
		if err != nil {
			return nil, err
		}
		img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
		tag := SBOMTag(repo, m.Digest)
		if err := remote.Write(tag, img, append(opts, remote.WithContext(ctx))...); err != nil {
			return nil, fmt.Errorf("attaching the SBOM of %s@%s: %w", repo, m.Digest, err)
		}
		tags = append(tags, tag)
	}
	return tags, nil
}
