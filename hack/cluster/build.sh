#!/usr/bin/env bash
# Builds every binary of the local cluster: the Kubernetes commands through
# hack/kube/build.sh, then runc, the CNI plugins, CoreDNS, the PKI tool and the
# image tool with the pause and e2e-app programs. Each Go module here is built
# into a cache directory named after a hash of its sources, so an unchanged
# module is never rebuilt and a changed one is. hack/cluster/lib.sh knows
# where everything lands.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

"$here/../kube/build.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl >/dev/null
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
ensure_packages

# build DIR OUT CGO TAGS PACKAGE... : go build in module DIR into cache dir OUT.
build() {
  local dir=$1 out=$2 cgo=$3 tags=$4; shift 4
  [[ -f "$out/.done" ]] && return
  mkdir -p "$(dirname "$out")"
  exec 8>"$(dirname "$out")/.lock"
  flock 8
  if [[ ! -f "$out/.done" ]]; then
    log "building $* into $out"
    local tmp
    tmp=$(mktemp -d "$out.XXXXXX")
    (cd "$dir" && CGO_ENABLED=$cgo go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$tmp/" "$@") || { rm -rf "$tmp"; return 1; }
    touch "$tmp/.done"
    rm -rf "$out"
    mv "$tmp" "$out"
  fi
  exec 8>&-
}

# runc needs cgo and libseccomp: seccomp filters are how pods get the
# RuntimeDefault profile.
build "$CLUSTER_SRC/runc" "$RUNC_DIR" 1 seccomp github.com/opencontainers/runc
build "$CLUSTER_SRC/cni" "$CNI_DIR" 0 "" \
  github.com/containernetworking/plugins/plugins/main/bridge \
  github.com/containernetworking/plugins/plugins/ipam/host-local \
  github.com/containernetworking/plugins/plugins/main/loopback \
  github.com/containernetworking/plugins/plugins/meta/portmap
build "$CLUSTER_SRC/coredns" "$COREDNS_DIR" 0 "" .
build "$CLUSTER_SRC/pki" "$PKI_TOOL_DIR" 0 "" .
build "$IMAGES_SRC" "$IMAGES_BIN" 0 "" ./mkimage ./pause ./e2e-app
