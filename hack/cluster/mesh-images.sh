#!/usr/bin/env bash
# mesh-images: builds the mesh's two images, mesh-proxy and mesh-controller,
# named PROXY_REF and CONTROLLER_REF, and imports them into the local
# cluster's containerd; with -o, writes DIR/mesh-proxy.tar and
# DIR/mesh-controller.tar instead. The names are the ones meshctl installs
# and injects by default (the e2e tests take them from the Go constants,
# `make demo` from `meshctl install --dry-run`), so nothing needs a --set.
# LDFLAGS stamps every binary, as in image.sh, with meshctl's version.
# The controller's image also carries /meshctl, which the chart's `helm test`
# runs (`meshctl check`), so that the check is of the control plane's own
# version and needs no image of its own. The flags of each image are
# defined here once.
#
#   hack/cluster/mesh-images.sh [-o DIR] PROXY_REF CONTROLLER_REF
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
dir=
if [[ ${1:-} == -o ]]; then
  (($# >= 2)) || die "usage: mesh-images.sh [-o DIR] PROXY_REF CONTROLLER_REF"
  dir=$2; shift 2
fi
(($# == 2)) || die "usage: mesh-images.sh [-o DIR] PROXY_REF CONTROLLER_REF"
proxy_ref=$1 controller_ref=$2

# image NAME REF PACKAGE FLAGS...: image.sh, into DIR/NAME.tar with -o.
image() {
  local name=$1; shift
  if [[ -n $dir ]]; then
    "$here/image.sh" -o "$dir/$name.tar" "$@"
  else
    "$here/image.sh" "$@"
  fi
}
# The injected containers run `mesh-proxy` by name: PATH=/ finds the binary
# that image.sh puts at /mesh-proxy.
image mesh-proxy "$proxy_ref" ./cmd/mesh-proxy -env PATH=/
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
arch=${IMAGE_ARCH:-$(go env GOARCH)}
(cd "$REPO_ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "${LDFLAGS:--s -w}" -o "$work/meshctl" ./cmd/meshctl)
image mesh-controller "$controller_ref" ./cmd/mesh-controller -env PATH=/ -user 65532:65532 -file "$work/meshctl=/meshctl"
