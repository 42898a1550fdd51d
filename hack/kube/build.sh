#!/usr/bin/env bash
# Builds Kubernetes and etcd commands from the pinned Go modules in hack/kube,
# with the version ldflags the Kubernetes release uses, into a cache directory
# outside the repository, and prints that directory. A cached binary is reused,
# so a second run takes well under a second. Concurrent runs (the test
# environment and the local cluster) serialise on a lock in the cache.
#
#   hack/kube/build.sh etcd kube-apiserver kubelet ...
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# The Kubernetes version the binaries report; it must match hack/kube/go.mod.
kube_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")
etcd_version=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$here/go.mod")
cache=${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/testenv/kube-${kube_version}_etcd-${etcd_version}
mkdir -p "$cache"

major=${kube_version#v}; major=${major%%.*}
minor=${kube_version#v*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"

package_of() {
  case $1 in
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|kubelet|kubectl) echo "k8s.io/kubernetes/cmd/$1" ;;
    *) echo "hack/kube/build.sh: unknown command $1" >&2; return 1 ;;
  esac
}

missing=()
for name in "$@"; do
  package_of "$name" >/dev/null
  [[ -x "$cache/$name" ]] || missing+=("$name")
done

if ((${#missing[@]})); then
  exec 9>"$cache/.lock"
  flock 9
  pkgs=() names=()
  for name in "${missing[@]}"; do
    [[ -x "$cache/$name" ]] && continue # another run built it while we waited
    names+=("$name") pkgs+=("$(package_of "$name")")
  done
  if ((${#names[@]})); then
    echo "building ${names[*]} into $cache; the first build takes a few minutes" >&2
    tmp=$(mktemp -d "$cache/.build.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    # One go build for all of them shares the compilation of common packages.
    # A package path builds a binary named after its last element, so build
    # etcd (whose path ends in v3) on its own.
    for i in "${!names[@]}"; do
      if [[ ${names[$i]} == etcd ]]; then
        (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/etcd" "${pkgs[$i]}")
        unset 'pkgs[i]'
      fi
    done
    if ((${#pkgs[@]})); then
      (cd "$here" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
    fi
    for name in "${names[@]}"; do mv "$tmp/$name" "$cache/$name"; done
  fi
fi
echo "$cache"
