#!/usr/bin/env bash
# Builds the binaries the integration tests run (etcd and kube-apiserver) from
# the pinned Go modules in hack/kube, and caches them outside the repository.
# Prints the directory that holds them. Safe to run again: a cached build is
# reused, so later runs take well under a second.
set -euo pipefail
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kube/build.sh" etcd kube-apiserver
