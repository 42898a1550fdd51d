#!/usr/bin/env bash
# Publishes a release's images and chart to REGISTRY. goreleaser runs it
# once per release, as its last step (a custom publisher in
# .goreleaser.yaml); `make release-check` runs it on a snapshot against a
# registry in memory and reads back what it pushed.
#
# The images are built by meshimages from the linux binaries goreleaser
# built: the same tool and the same pinned base as `make images` and the
# end-to-end cluster, so what a release publishes is what the tests ran.
# Each platform image gets its SBOM attached (cosign's sha256-HEX.sbom
# tag), and the chart package is pushed as an OCI artifact,
# REGISTRY/charts/mesh:VERSION (`helm install oci://REGISTRY/charts/mesh`).
# Credentials come from `docker login` (~/.docker/config.json) for the
# images and `helm registry login` for the chart.
#
#   hack/release-publish.sh DIST VERSION REGISTRY [--plain-http]
#
# goreleaser runs a publisher once for each artifact it matches, and some
# artifacts (the checksums file, every release extra file) match any
# filter: the publisher passes the artifact's name in PUBLISH_ARTIFACT, and
# only the run for the checksums file publishes.
set -euo pipefail
(($# == 3 || $# == 4)) || { echo "usage: $0 DIST VERSION REGISTRY [--plain-http]" >&2; exit 2; }
if [[ -n ${PUBLISH_ARTIFACT:-} && $PUBLISH_ARTIFACT != checksums.txt ]]; then
	exit 0
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dist=$(cd "$1" && pwd) version=$2 registry=$3
insecure=() plainhttp=()
if [[ ${4:-} == --plain-http ]]; then
	insecure=(-insecure) plainhttp=(-plain-http)
fi

bin=$dist/images/bin
rm -rf "$dist/images" && mkdir -p "$bin"
# The controller's image carries meshctl too (meshimage.Spec.Also).
for name in mesh-proxy mesh-controller meshctl; do
	for arch in amd64 arm64; do
		src=("$dist/${name}_linux_${arch}"*/"$name")
		[[ -f ${src[0]} ]] || { echo "release-publish: no $name for linux/$arch in $dist" >&2; exit 1; }
		cp "${src[0]}" "$bin/${name}_linux_$arch"
	done
done
(cd "$root/hack/images" && go run ./meshimages -bin "$bin" -registry "$registry" -tag "$version" -push -sbom "$dist/images/sbom" ${insecure[@]+"${insecure[@]}"})
(cd "$root" && go run ./hack/chart -version "$version" -o "$dist/chart" -push "oci://$registry/charts" ${plainhttp[@]+"${plainhttp[@]}"})
