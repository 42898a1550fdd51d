#!/usr/bin/env bash
# e2e: runs test/e2e against the local cluster that cluster-up started, with
# the cluster's kubeconfig and image names in the environment. Arguments go
# to `go test` (for example -run 'TestJourney/node').
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
[[ -f $KUBECONFIG_FILE ]] || die "no cluster: run \`make cluster-up\` first"
"$here/build.sh" # a no-op when nothing changed; the tests run some binaries
export KUBECONFIG=$KUBECONFIG_FILE
export MESHCTL_E2E_APP_IMAGE=$E2E_APP_IMAGE
export MESHCTL_E2E_KUBECTL=$KUBE_BIN/kubectl
export MESHCTL_E2E_RUN_DIR=$RUN_DIR
export MESHCTL_E2E_APP_BINARY=$IMAGES_BIN/e2e-app
# The Makefile passes its LDFLAGS, so binaries and images carry one version.
export MESHCTL_E2E_LDFLAGS=${LDFLAGS:--s -w}
cd "$REPO_ROOT"
exec go test -tags e2e -count=1 -v -timeout 30m "$@" ./test/e2e/
