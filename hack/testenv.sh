#!/usr/bin/env bash
# Builds the binaries the integration tests run (etcd and kube-apiserver) from
# the pinned Go modules in hack/kube, and caches them outside the repository.
# Prints the directory that holds them. Safe to run again: a cached build is
# reused, so later runs take well under a second.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The Kubernetes version the binaries report; it must match hack/kube/go.mod.
kube_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/kube/go.mod")
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$here/kube/go.mod")
cache=${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/testenv/kube-${kube_version}_etcd-${etcd_version}
mkdir -p "$cache"

major=${kube_version#v}; major=${major%%.*}
minor=${kube_version#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"

build() { # name, package
  local name=$1 pkg=$2
  if [[ -x "$cache/$name" ]]; then return; fi
  echo "building $name ($pkg) into $cache; the first build takes a few minutes" >&2
  (cd "$here/kube" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$cache/$name.tmp" "$pkg")
  mv "$cache/$name.tmp" "$cache/$name"
}

build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
echo "$cache"
