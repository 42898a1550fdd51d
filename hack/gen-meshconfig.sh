#!/usr/bin/env bash
# Generates, from the Go types in pkg/meshconfig/types.go:
#   - pkg/meshconfig/zz_generated.deepcopy.go
#   - charts/mesh/crds/config.meshctl.io_meshconfigs.yaml (the MeshConfig CRD)
# controller-gen is pinned to a release built against k8s.io/* v0.34, so the
# schema matches what our API server understands. Run it after editing the
# types (go generate ./pkg/meshconfig); pkg/meshconfig's tests fail when the
# CRD and the types disagree.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
controller_gen_version=v0.19.0
cd "$root"

run() { go run "sigs.k8s.io/controller-tools/cmd/controller-gen@${controller_gen_version}" "$@"; }

run object paths=./pkg/meshconfig/...
run crd:crdVersions=v1 paths=./pkg/meshconfig/... output:crd:artifacts:config=charts/mesh/crds
