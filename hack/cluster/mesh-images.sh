#!/usr/bin/env bash
# mesh-images: builds the mesh's two images, mesh-proxy and mesh-controller,
# named PROXY_REF and CONTROLLER_REF (REGISTRY/mesh-proxy:TAG and
# REGISTRY/mesh-controller:TAG), and imports them into the local cluster's
# containerd; with -o, writes DIR/mesh-proxy.tar and DIR/mesh-controller.tar
# instead. The names are the ones meshctl installs and injects by default
# (the e2e tests take them from the Go constants, `make demo` from `meshctl
# install --dry-run`), so nothing needs a --set.
# LDFLAGS stamps both binaries, as in image.sh, with meshctl's version.
# The images are hack/images/meshimage's, on its pinned base: the same
# images `make images` pushes and the release publishes. The controller's
# image also carries meshctl, which the chart's `helm test` runs.
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
registry=${proxy_ref%/mesh-proxy:*} tag=${proxy_ref##*:}
[[ $proxy_ref == "$registry/mesh-proxy:$tag" && $controller_ref == "$registry/mesh-controller:$tag" ]] ||
  die "want REGISTRY/mesh-proxy:TAG and REGISTRY/mesh-controller:TAG, got $proxy_ref and $controller_ref"
if [[ -z $dir ]]; then
  pid_of containerd >/dev/null || die "containerd of the local cluster is not running: run \`make cluster-up\` first"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The images run on a node of IMAGE_ARCH (default: this machine's).
arch=${IMAGE_ARCH:-$(go env GOARCH)}
for name in mesh-proxy mesh-controller meshctl; do
  (cd "$REPO_ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath -ldflags "${LDFLAGS:--s -w}" -o "$work/bin/${name}_linux_$arch" "./cmd/$name")
done
(cd "$IMAGES_SRC" && go run ./meshimages -bin "$work/bin" -registry "$registry" -tag "$tag" -o "$work/out")
for name in mesh-proxy mesh-controller; do
  if [[ -n $dir ]]; then
    mkdir -p "$dir"
    mv "$work/out/$name.tar" "$dir/$name.tar"
    log "wrote $registry/$name:$tag to $dir/$name.tar"
  else
    ctr_k8s images import "$work/out/$name.tar" >/dev/null
    log "imported $registry/$name:$tag"
  fi
done
