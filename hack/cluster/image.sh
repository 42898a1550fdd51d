#!/usr/bin/env bash
# image: builds a Go command of this repository as a static binary, wraps it
# in an image on an empty base (hack/images/mkimage) and imports it into the
# local cluster's containerd, where pods find it without any pull.
#
#   hack/cluster/image.sh REF PACKAGE [mkimage flags...]
#   hack/cluster/image.sh ghcr.io/meshctl/mesh-proxy:v0.1.0-dev ./cmd/mesh-proxy -user 1500:1500
#
# The binary lands at /<last element of PACKAGE> and is the entrypoint unless
# -entrypoint is given. LDFLAGS (the Makefile's, for the version stamp) is
# passed to go build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
(($# >= 2)) || die "usage: image.sh REF PACKAGE [mkimage flags...]"
ref=$1 pkg=$2; shift 2
name=$(basename "$pkg")
pid_of containerd >/dev/null || die "containerd of the local cluster is not running: run \`make cluster-up\` first"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$REPO_ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "${LDFLAGS:--s -w}" -o "$work/$name" "$pkg")
entry=(-entrypoint "/$name")
for arg in "$@"; do [[ $arg == -entrypoint ]] && entry=(); done
"$IMAGES_BIN/mkimage" -tag "$ref" -o "$work/image.tar" -file "$work/$name=/$name" "${entry[@]}" "$@"
ctr_k8s images import "$work/image.tar" >/dev/null
log "imported $ref"
