#!/usr/bin/env bash
# image: builds a Go command of this repository as a static binary, wraps it
# in an image on an empty base (hack/images/mkimage) and imports it into the
# local cluster's containerd, where pods find it without any pull. With -o,
# the image is written to FILE instead (for `kind load image-archive`, or
# import.sh later) and no cluster is needed.
#
#   hack/cluster/image.sh [-o FILE] REF PACKAGE [mkimage flags...]
#   hack/cluster/image.sh ghcr.io/meshctl/mesh-proxy:v0.1.0-dev ./cmd/mesh-proxy -user 1500:1500
#
# The binary lands at /<last element of PACKAGE> and is the entrypoint unless
# -entrypoint is given. LDFLAGS (the Makefile's, for the version stamp) is
# passed to go build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
out=
if [[ ${1:-} == -o ]]; then
  (($# >= 2)) || die "usage: image.sh [-o FILE] REF PACKAGE [mkimage flags...]"
  out=$2; shift 2
fi
(($# >= 2)) || die "usage: image.sh [-o FILE] REF PACKAGE [mkimage flags...]"
ref=$1 pkg=$2; shift 2
name=$(basename "$pkg")
if [[ -z $out ]]; then
  pid_of containerd >/dev/null || die "containerd of the local cluster is not running: run \`make cluster-up\` first"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The image runs on a node of IMAGE_ARCH (default: this machine's), whatever
# machine builds it; mkimage labels the image with the same architecture.
arch=${IMAGE_ARCH:-$(go env GOARCH)}
(cd "$REPO_ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "${LDFLAGS:--s -w}" -o "$work/$name" "$pkg")
mkimage=$IMAGES_BIN/mkimage
if [[ ! -x $mkimage ]]; then # no cluster was ever built here (a kind user, say)
  mkimage=$work/mkimage
  (cd "$IMAGES_SRC" && CGO_ENABLED=0 go build -trimpath -o "$mkimage" ./mkimage)
fi
entry=(-entrypoint "/$name")
for arg in "$@"; do [[ $arg == -entrypoint ]] && entry=(); done
"$mkimage" -tag "$ref" -o "$work/image.tar" -arch "$arch" -file "$work/$name=/$name" "${entry[@]}" "$@"
if [[ -n $out ]]; then
  mkdir -p "$(dirname "$out")"
  mv "$work/image.tar" "$out"
  log "wrote $ref to $out"
  exit 0
fi
ctr_k8s images import "$work/image.tar" >/dev/null
log "imported $ref"
