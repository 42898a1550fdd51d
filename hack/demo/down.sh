#!/usr/bin/env bash
# demo-down: `make demo-down`, the undo of `make demo`, for the same
# KUBECONFIG:
#   - unset, or the local cluster's: `make cluster-down`. The local cluster
#     goes, and the mesh and the examples with it.
#   - another cluster (yours: kind, say): only what `make demo` put there.
#     The example apps and their namespaces are deleted (kubectl delete -f
#     examples/...) and the mesh is uninstalled (`meshctl uninstall --yes`,
#     which keeps the CRDs, as always). The cluster itself, and any images
#     kind loaded into it, are left alone: deleting a cluster of yours is for
#     you to do (`kind delete cluster`).
# Running it twice is harmless.
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$here/../cluster/lib.sh"
DEMO_NAME="make demo-down"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
cd "$REPO_ROOT"

if [[ -z ${KUBECONFIG:-} || $KUBECONFIG == "$KUBECONFIG_FILE" ]]; then
  step "Remove the local cluster"
  [[ $(id -u) == 0 ]] || die "removing the local cluster needs root: run it as root"
  show make --no-print-directory cluster-down
  exit 0
fi

step "Remove the mesh and the examples from the cluster of KUBECONFIG"
command -v kubectl >/dev/null || die "kubectl is not on PATH"
context=$(kubectl config current-context) || die "KUBECONFIG=$KUBECONFIG has no current context"
note "KUBECONFIG=$KUBECONFIG, context $context; the cluster itself stays"
[[ -x bin/meshctl ]] || show make --no-print-directory build
export PATH=$REPO_ROOT/bin:$PATH
unset MESHCTL_KUBECONFIG MESHCTL_CONTEXT
# Waits until the namespaces are gone, so that uninstall finds no pod that
# still runs a sidecar.
show kubectl delete -f examples/books/ -f examples/bookstore/ --ignore-not-found --timeout 3m
if mesh_installed; then
  show meshctl uninstall --yes
else
  note "no mesh is installed"
fi
