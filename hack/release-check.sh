#!/usr/bin/env bash
# release-check: what `make release-check` proves of a snapshot release in
# DIST: every archive has its SBOM naming the Go program it ships, and the
# krew manifest and the Homebrew cask rendered.
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
[[ -s $(ls bin/chart/mesh-*.tgz | head -1) ]] || fail "no chart package in bin/chart"
echo "release-check: ${#archives[@]} archives with SBOMs, the krew manifest, the Homebrew cask and the chart package"
