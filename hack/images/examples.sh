#!/usr/bin/env bash
# examples.sh: builds the example apps' image, ghcr.io/meshctl/examples:v1,
# without Docker: the six programs of examples/apps as static binaries on an
# empty base, written by hack/images/mkimage as a `docker save` tarball that
# `ctr images import` (the local cluster) or `kind load image-archive` loads.
#
#   hack/images/examples.sh OUT.tar
#
# The image holds /bookstore /bookbuyer /bookthief /books /stars /fetch and
# runs as 65532:65532. The manifests in examples/ name the program with
# `command`; /bookstore is the entrypoint only so the image has one.
set -euo pipefail

IMAGE=ghcr.io/meshctl/examples:v1
APPS=(bookstore bookbuyer bookthief books stars fetch)

(($# == 1)) || { echo "usage: $0 OUT.tar" >&2; exit 2; }
out=$1
[[ $out == /* ]] || out=$PWD/$out
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pkgs=()
files=()
for app in "${APPS[@]}"; do
  pkgs+=("./examples/apps/$app")
  files+=(-file "$work/bin/$app=/$app")
done
# For nodes of IMAGE_ARCH (default: this machine's); mkimage labels the image
# with the same architecture, which containerd matches against the node's.
arch=${IMAGE_ARCH:-$(go env GOARCH)}
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "-s -w" -o "$work/bin/" "${pkgs[@]}")

# mkimage is its own Go module (hack/images); go build's cache makes this
# quick after the first time.
(cd "$repo/hack/images" && CGO_ENABLED=0 go build -trimpath -o "$work/mkimage" ./mkimage)
"$work/mkimage" -tag "$IMAGE" -o "$out" -arch "$arch" "${files[@]}" -entrypoint /bookstore -user 65532:65532
echo "$IMAGE written to $out" >&2
