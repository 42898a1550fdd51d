#!/usr/bin/env bash
# demo: `make demo`. Builds meshctl, the mesh's images and the example apps'
# image, then runs the operator journey with the real commands, printing each
# one before its output: check --pre, install, check, the bookstore example
# in enrolled namespaces, the books example injected offline with JWT
# validation on, live traffic, each proxy's request metrics, permissive mode.
#
# Where it runs:
#   - KUBECONFIG unset, or the local cluster's: the local single-node cluster
#     of hack/cluster (`make cluster-up`, as root), images imported into its
#     containerd. It is left running; `make demo-down` removes it.
#   - KUBECONFIG pointing at another cluster: that cluster, as it is. A kind
#     cluster (context kind-NAME, with `kind` on PATH) gets the images with
#     `kind load image-archive`; any other must be able to pull them.
#
# Running it again is harmless: an installed mesh is upgraded, existing
# namespaces and apps are kept, the JWT key is reused. Any failure stops it
# with the step that failed, and exit 1. The Makefile passes LDFLAGS, so
# meshctl and the images carry the same version.
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$here/../cluster/lib.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
cd "$REPO_ROOT"
started=$SECONDS

current_step="prerequisites"
[[ -n ${LDFLAGS:-} ]] || die "LDFLAGS is not set: run this through \`make demo\`, which stamps meshctl and the images with one version"

# The example apps and where they run (examples/).
bookstore_apps=(bookstore/bookstore bookbuyer/bookbuyer bookthief/bookthief)
books_apps=(books/books books/stars)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

local_cluster=false
if [[ -z ${KUBECONFIG:-} || $KUBECONFIG == "$KUBECONFIG_FILE" ]]; then
  local_cluster=true
  # Before anything is built: without root there is no local cluster.
  [[ $(id -u) == 0 ]] || die "the local cluster needs root (it sets up interfaces, iptables rules and mounts): run it as root (Go on its PATH), or point KUBECONFIG at a cluster of yours (kind, say)"
fi

# ---- 1. build ---------------------------------------------------------------
step "Build meshctl, mesh-proxy and mesh-controller"
show_as "make build" make --no-print-directory build LDFLAGS="$LDFLAGS"
export PATH=$REPO_ROOT/bin:$PATH
# meshctl follows KUBECONFIG like kubectl; settings of its own that point
# elsewhere would split the demo over two clusters.
unset MESHCTL_KUBECONFIG MESHCTL_CONTEXT

# ---- 2. the cluster and its images -------------------------------------------
if $local_cluster; then
  step "Start the local single-node cluster"
  show make --no-print-directory cluster-up
  export KUBECONFIG=$KUBECONFIG_FILE
  # The kubectl built for this cluster, of its exact version.
  export PATH=$REPO_ROOT/bin:$KUBE_BIN:$PATH
else
  step "Use the cluster of KUBECONFIG"
  if ! command -v kubectl >/dev/null; then
    [[ -x $KUBE_BIN/kubectl ]] || die "kubectl is not on PATH; install it, or run \`make cluster-up\` once to build one"
    export PATH=$PATH:$KUBE_BIN
  fi
  context=$(kubectl config current-context) || die "KUBECONFIG=$KUBECONFIG has no current context"
  note "KUBECONFIG=$KUBECONFIG, context $context"
  # The images are built for the nodes' architecture (an arm64 kind node on a
  # Mac, say), not this machine's.
  IMAGE_ARCH=$(kubectl get nodes -o 'jsonpath={.items[0].status.nodeInfo.architecture}') || die "the cluster's nodes could not be listed"
  [[ $IMAGE_ARCH == amd64 || $IMAGE_ARCH == arm64 ]] || die "the cluster's nodes are $IMAGE_ARCH; the images are built for amd64 or arm64"
  export IMAGE_ARCH
  note "nodes: linux/$IMAGE_ARCH"
fi

step "Build the images"
# The names meshctl installs and injects by default, from meshctl itself.
rendered=$(meshctl install --dry-run)
proxy_image=$(grep -oE '[^" ]+/mesh-proxy:[^" ]+' <<<"$rendered" | head -n 1) || true
controller_image=$(grep -oE '[^" ]+/mesh-controller:[^" ]+' <<<"$rendered" | head -n 1) || true
[[ -n $proxy_image && -n $controller_image ]] || die "no mesh-proxy or mesh-controller image in \`meshctl install --dry-run\`"
note "images: $proxy_image, $controller_image and the example apps'"
tars=("$work/mesh-proxy.tar" "$work/mesh-controller.tar" "$work/examples.tar")
show hack/cluster/mesh-images.sh -o "$work" "$proxy_image" "$controller_image"
show hack/images/examples.sh "$work/examples.tar"
if $local_cluster; then
  show hack/cluster/import.sh "${tars[@]}"
elif [[ $context == kind-* ]] && command -v kind >/dev/null; then
  for tar in "${tars[@]}"; do
    show kind load image-archive "$tar" --name "${context#kind-}"
  done
else
  note "the current context is not a kind cluster (or kind is not on PATH): the cluster must be able to pull $proxy_image, $controller_image and the examples image (hack/images/examples.sh names it)"
fi

# ---- 3. the journey ---------------------------------------------------------
step "Install the mesh"
if mesh_installed; then
  note "a mesh is installed already (check --pre is for a cluster without one): upgrading it to this meshctl"
  show meshctl upgrade
else
  show meshctl check --pre
  show meshctl install
fi
show meshctl check --wait 2m

step "Enrol the bookstore namespaces and deploy the bookstore example"
# A namespace still being deleted (by `make demo-down` or the e2e tests just
# before) cannot take new objects: wait until it is gone.
for ns in bookstore bookbuyer bookthief books; do
  if [[ $(kubectl get namespace "$ns" -o 'jsonpath={.status.phase}' --ignore-not-found) == Terminating ]]; then
    note "namespace $ns is being deleted; waiting until it is gone"
    kubectl wait --for=delete "namespace/$ns" --timeout 3m >/dev/null
  fi
done
show kubectl apply -f examples/bookstore/namespaces.yaml
show meshctl namespace add bookstore bookbuyer bookthief
show kubectl apply -f examples/bookstore/
wait_meshed "${bookstore_apps[@]}"
show kubectl get pods -A -l 'app in (bookstore,bookbuyer,bookthief)'

step "Turn JWT validation on for the books namespace, and mesh the books example with meshctl inject"
# The key is kept between runs (outside the repository), so the mesh's JWKS
# stays valid; the tokens are fresh.
show examples/books/jwt.sh
# The same key again (jwt.sh reuses it), printed as shell assignments; read
# whole and checked, so a failure names this step.
jwt_env=$(examples/books/jwt.sh --print-env) || die "examples/books/jwt.sh --print-env failed"
eval "$jwt_env"
[[ -n ${JWT_JWKS_FILE:-} && -n ${JWT_TOKEN:-} ]] || die "examples/books/jwt.sh --print-env printed no JWT_JWKS_FILE or JWT_TOKEN"
jwks=$(<"$JWT_JWKS_FILE")
# Scoped to books: the running bookstore apps keep calling each other
# without a token. The settings reach running proxies within a second.
books_only='auth.jwt.destinations=[{"namespace":"books"}]'
show_as "meshctl config set auth.jwt.enable=true auth.jwt.issuer=$JWT_ISSUER auth.jwt.audiences=$JWT_AUDIENCE auth.jwt.jwks=\"\$(cat $JWT_JWKS_FILE)\" '$books_only'" \
  meshctl config set auth.jwt.enable=true "auth.jwt.issuer=$JWT_ISSUER" "auth.jwt.audiences=$JWT_AUDIENCE" "auth.jwt.jwks=$jwks" "$books_only"
show_as "meshctl inject --from-cluster -f examples/books/ | kubectl apply -f -" \
  inject_books
wait_meshed "${books_apps[@]}"
show kubectl get pods -n books

step "Live traffic"
show kubectl logs -n bookbuyer deploy/bookbuyer -c bookbuyer --tail 5
expect_status 200 "bookstore's counters, from bookbuyer" \
  "kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch http://bookstore.bookstore:8080/api/stats" \
  kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch http://bookstore.bookstore:8080/api/stats
book_url=http://books.books:8080/api/books/1
expect_status 200 "books -> stars with a valid token" \
  "kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch -H \"Authorization: Bearer \$(cat $JWT_DIR/token)\" $book_url" \
  kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch -H "Authorization: Bearer $JWT_TOKEN" "$book_url"
expect_status 200 "stars saw the token's subject, though books never forwards it (the sidecars propagate it)" \
  "kubectl exec -n books deploy/stars -c stars -- /fetch http://127.0.0.1:8080/api/stats" \
  kubectl exec -n books deploy/stars -c stars -- /fetch http://127.0.0.1:8080/api/stats
expect_status 401 "a token signed by another key: refused by books' sidecar" \
  "kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch -H \"Authorization: Bearer \$(cat $JWT_DIR/token-bad)\" $book_url" \
  kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch -H "Authorization: Bearer $JWT_TOKEN_BAD" "$book_url"
expect_status 401 "no token: refused by books' sidecar" \
  "kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch $book_url" \
  kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch "$book_url"

step "Each proxy's request metrics"
for app in bookbuyer/bookbuyer bookstore/bookstore books/books books/stars; do
  ns=${app%/*} name=${app#*/}
  pod=$(kubectl get pods -n "$ns" -l "app=$name" --field-selector status.phase=Running -o 'jsonpath={.items[0].metadata.name}')
  port=$(admin_port "$ns" "$pod")
  show_as "kubectl get --raw /api/v1/namespaces/$ns/pods/$pod:$port/proxy/metrics | grep ^mesh_proxy_requests_total" \
    proxy_metrics "$ns" "$pod" "$port"
done

step "Authorization: permissive mode off, only what TrafficTargets allow"
show cat examples/bookstore/traffic-policy.yaml
expect_status 200 "while the mesh is permissive, bookthief steals" \
  "kubectl exec -n bookthief deploy/bookthief -c bookthief -- /fetch http://bookstore.bookstore:8080/api/steal" \
  kubectl exec -n bookthief deploy/bookthief -c bookthief -- /fetch http://bookstore.bookstore:8080/api/steal
show meshctl permissive disable --yes
expect_status 403 "bookstore's sidecar refuses bookthief's steal: no TrafficTarget allows it" \
  "kubectl exec -n bookthief deploy/bookthief -c bookthief -- /fetch http://bookstore.bookstore:8080/api/steal" \
  kubectl exec -n bookthief deploy/bookthief -c bookthief -- /fetch http://bookstore.bookstore:8080/api/steal
expect_status 200 "bookbuyer keeps buying: the TrafficTarget allows GET /api/buy" \
  "kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch http://bookstore.bookstore:8080/api/buy" \
  kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch http://bookstore.bookstore:8080/api/buy
show kubectl logs -n bookthief deploy/bookthief -c bookthief --tail 3
store_pod=$(kubectl get pods -n bookstore -l app=bookstore --field-selector status.phase=Running -o 'jsonpath={.items[0].metadata.name}')
store_port=$(admin_port bookstore "$store_pod")
show_as "kubectl get --raw /api/v1/namespaces/bookstore/pods/$store_pod:$store_port/proxy/metrics | grep ^mesh_proxy_authz_denied_total" \
  proxy_denials bookstore "$store_pod" "$store_port"
show meshctl permissive status

step "See the mesh: every proxy, the traffic per workload, live requests"
show meshctl proxy status -n bookstore
# Read from the proxies themselves, twice 10 s apart: no Prometheus needed.
show meshctl stat deploy -n bookstore
show meshctl tap deploy/bookstore -n bookstore --max 5

# ---- 4. what next -----------------------------------------------------------
step "Done in $((SECONDS - started))s"
if $local_cluster; then
  cat <<EOF
The local cluster is still running, with the mesh and the examples. To explore it:

  export KUBECONFIG=$KUBECONFIG_FILE
  export PATH=$REPO_ROOT/bin:$KUBE_BIN:\$PATH
EOF
else
  cat <<EOF
Your cluster (context $context) has the mesh and the examples. To explore it:

  export PATH=$REPO_ROOT/bin:\$PATH
EOF
fi
cat <<EOF
  meshctl check
  meshctl top deploy/bookstore -n bookstore                        # the busiest paths, live
  meshctl dashboard -A                                             # the mesh as a live graph, in a page meshctl serves on 127.0.0.1
  meshctl config get auth.jwt
  kubectl logs -n bookthief deploy/bookthief -c bookthief -f     # refused with 403 while permissive mode is off
  kubectl exec -n bookbuyer deploy/bookbuyer -c bookbuyer -- /fetch -H "Authorization: Bearer \$(cat $JWT_DIR/token-expired)" $book_url
  meshctl permissive enable                                        # and bookthief steals again

Then \`make demo-down\` removes $($local_cluster && echo "the local cluster" || echo "the mesh and the example namespaces (not the cluster)").
EOF
