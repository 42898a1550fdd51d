#!/usr/bin/env bash
# release-check: what `make release-check` proves of a snapshot release in
# DIST: every archive has its SBOM naming the Go program it ships, the krew
# manifest and the Homebrew cask rendered, and the release's publisher
# (hack/release-publish.sh) pushes both images for both platforms with
# their SBOMs attached, and the chart as an OCI artifact, to a registry (one
# in memory on loopback here), where they are read back.
set -euo pipefail
dist=${1:-dist}
fail() { echo "release-check: $*" >&2; exit 1; }
shopt -s nullglob
archives=("$dist"/*.tar.gz "$dist"/*.zip)
((${#archives[@]} > 0)) || fail "no archives in $dist"
for a in "${archives[@]}"; do
  sbom=$a.spdx.json
  [[ -s $sbom ]] || fail "no SBOM for $a"
  grep -q '"spdxVersion": "SPDX-2.3"' "$sbom" || fail "$sbom is not an SPDX 2.3 document"
  grep -q '"name": "github.com/meshctl/meshctl"' "$sbom" || fail "$sbom does not describe meshctl's module"
done
krew=("$dist"/krew/mesh.yaml)
((${#krew[@]} == 1)) && grep -q "kind: Plugin" "${krew[0]}" || fail "no krew plugin manifest in $dist/krew"
cask=("$dist"/homebrew/Casks/meshctl.rb)
((${#cask[@]} == 1)) && grep -q 'cask "meshctl"' "${cask[0]}" || fail "no Homebrew cask in $dist/homebrew"
charts=(bin/chart/mesh-*.tgz)
((${#charts[@]} == 1)) && [[ -s ${charts[0]} ]] || fail "want one chart package in bin/chart, found ${#charts[@]}"

version=$(grep -o '"version":"[^"]*"' "$dist/metadata.json" | head -1 | cut -d'"' -f4)
[[ -n $version ]] || fail "no version in $dist/metadata.json"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
(cd "$root/hack/images" && go build -o "$root/bin/release-check-registry" ./registry)
addrfile=$(mktemp)
"$root/bin/release-check-registry" >"$addrfile" &
regpid=$!
trap 'kill $regpid 2>/dev/null || true; rm -f "$addrfile"' EXIT
for _ in $(seq 50); do [[ -s $addrfile ]] && break; sleep 0.1; done
addr=$(head -1 "$addrfile")
[[ -n $addr ]] || fail "the registry did not start"
"$root/hack/release-publish.sh" "$dist" "v$version" "$addr/meshctl" --plain-http >"$dist/publish.log" 2>&1 ||
	{ cat "$dist/publish.log" >&2; fail "hack/release-publish.sh failed"; }

get() { curl -fsS -H "Accept: $2" "http://$addr/v2/$1"; }
for image in mesh-proxy mesh-controller; do
	index=$(get "meshctl/$image/manifests/v$version" application/vnd.oci.image.index.v1+json) ||
		fail "the registry has no $image:v$version"
	for arch in amd64 arm64; do
		grep -q "\"architecture\":\"$arch\"" <<<"$index" || fail "$image:v$version has no linux/$arch image"
	done
	tags=$(get "meshctl/$image/tags/list" application/json)
	n=$({ grep -o 'sha256-[0-9a-f]*\.sbom' <<<"$tags" || true; } | sort -u | wc -l)
	((n == 2)) || fail "$image: $n SBOMs attached, want one per platform: $tags"
done
chart=$(get "meshctl/charts/mesh/manifests/$version" application/vnd.oci.image.manifest.v1+json) ||
	fail "the registry has no chart meshctl/charts/mesh:$version"
grep -q 'application/vnd.cncf.helm.chart.content.v1.tar+gzip' <<<"$chart" || fail "meshctl/charts/mesh:$version is not a Helm chart: $chart"
echo "release-check: ${#archives[@]} archives with SBOMs, the krew manifest, the Homebrew cask, the chart package; published v$version: 2 images x 2 platforms with SBOMs attached, and the chart as an OCI artifact"
