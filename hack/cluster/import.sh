#!/usr/bin/env bash
# import: loads image tarballs (docker save or OCI layout archives, as
# image.sh, mesh-images.sh and hack/images/examples.sh write them) into the
# local cluster's containerd, where pods find them without any pull.
#
#   hack/cluster/import.sh FILE.tar...
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
(($# >= 1)) || die "usage: import.sh FILE.tar..."
pid_of containerd >/dev/null || die "containerd of the local cluster is not running: run \`make cluster-up\` first"
for tar in "$@"; do
  [[ -f $tar ]] || die "import: no file $tar"
  ctr_k8s images import "$tar" >/dev/null || die "importing $tar into containerd"
  log "imported $tar"
done
