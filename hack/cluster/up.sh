#!/usr/bin/env bash
# cluster-up: starts (or finishes starting) the local single-node cluster and
# waits until the node is Ready and cluster DNS answers. Idempotent: a running
# component is left alone, a missing one is started. Run as root.
#
# On failure it prints the tail of the failing component's log; all logs are
# in $LOG_DIR (see lib.sh).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
start_time=$SECONDS

[[ $(id -u) == 0 ]] || { echo "cluster-up: must run as root (it configures interfaces, iptables and mounts)" >&2; exit 1; }

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
ensure_packages
"$here/build.sh"

# A cluster whose processes are all gone (the machine's session ended, say)
# left mounts, rules and containerd state that would only get in the way:
# clear them and start afresh. A partly running cluster is completed instead.
if [[ -d $STATE_DIR ]] && ! any_running; then
  log "no component of the previous cluster runs; removing its leftovers first"
  "$here/down.sh"
fi
mkdir -p "$STATE_DIR" "$RUN_DIR" "$LOG_DIR" "$IMAGE_DIR"

# fail NAME MESSAGE: report a component's failure with the end of its log.
fail() {
  log "error: $2"
  if [[ -f $LOG_DIR/$1.log ]]; then
    echo "---- last lines of $LOG_DIR/$1.log (this start) ----" >&2
    local from
    from=$(grep -n '^==== ' "$LOG_DIR/$1.log" | tail -n 1 | cut -d: -f1)
    tail -n "+${from:-1}" "$LOG_DIR/$1.log" | tail -n 40 >&2
    echo "----" >&2
  fi
  exit 1
}

# wait_for NAME SECONDS COMMAND...: until COMMAND succeeds, or fail on NAME.
wait_for() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then fail "$name" "$name exited"; fi
    if ((SECONDS >= deadline)); then fail "$name" "$name not ready after ${timeout}s"; fi
    sleep 0.5
  done
}

# start NAME BINARY ARGS...: start a component in its own session with its
# output in LOG_DIR, unless it is already running. VAR=VALUE words in the
# array start_env go into its environment.
start_env=()
start() {
  local name=$1 bin=$2; shift 2
  if pid_of "$name" >/dev/null; then return; fi
  log "starting $name"
  readlink -f "$bin" >"$RUN_DIR/$name.exe"
  echo "==== $(date -u +%FT%TZ) $bin $*" >>"$LOG_DIR/$name.log"
  setsid env "${start_env[@]}" "$bin" "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
}

# Remember what the machine had before, once, so cluster-down can put it back.
saved=$STATE_DIR/saved-sysctls
sysctls=(net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables
  vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)
if [[ ! -f $saved ]]; then
  for s in "${sysctls[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$saved.tmp"
  mv "$saved.tmp" "$saved"
fi
# Directories outside ours that containerd, libcni or the kubelet create
# whatever they are told.
for dir in "${OUTSIDE_DIRS[@]}"; do
  [[ -d $dir ]] || grep -qxF "$dir" "$STATE_DIR/created-dirs" 2>/dev/null || echo "$dir" >>"$STATE_DIR/created-dirs"
done

# ---- network ----------------------------------------------------------------
if ! ip link show "$NODE_LINK" >/dev/null 2>&1; then
  log "creating $NODE_LINK ($NODE_IP, $DNS_IP)"
  # A dummy link where the kernel has them; otherwise a bridge with no ports,
  # which is just as local (this VM's kernel has no dummy driver).
  ip link add "$NODE_LINK" type dummy 2>/dev/null || ip link add "$NODE_LINK" type bridge
fi
ip addr replace "$NODE_IP/24" dev "$NODE_LINK"
ip addr replace "$DNS_IP/32" dev "$NODE_LINK"
ip link set "$NODE_LINK" up
# Service IPs are routed to the dummy link, so host traffic to them takes the
# node address as its source; kube-proxy's DNAT then sends it to a pod, and a
# service without endpoints goes nowhere instead of out of the default route.
ip route replace "$SERVICE_CIDR" dev "$NODE_LINK" src "$NODE_IP"
sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1

# Nothing leaves the machine: forwarded packets from the cluster's range to
# anywhere outside it are dropped, and so is anything forwarded into the range
# from outside it. Nothing is masqueraded (the CNI bridge has ipMasq false).
# Rules are only ever added, never flushed and rebuilt, so a second
# cluster-up leaves no moment without them.
iptables -w -N "$FIREWALL_CHAIN" 2>/dev/null || true
for rule in "-s $ISOLATED_CIDR ! -d $ISOLATED_CIDR -j DROP" "! -s $ISOLATED_CIDR -d $ISOLATED_CIDR -j DROP"; do
  # shellcheck disable=SC2086 # the rule is words on purpose
  iptables -w -C "$FIREWALL_CHAIN" $rule 2>/dev/null || iptables -w -A "$FIREWALL_CHAIN" $rule
done
iptables -w -C FORWARD -j "$FIREWALL_CHAIN" 2>/dev/null || iptables -w -I FORWARD 1 -j "$FIREWALL_CHAIN"

# ---- certificates, configuration, images ----------------------------------
apiserver_url=https://$NODE_IP:$APISERVER_PORT
"$PKI_TOOL_DIR/pki" -dir "$PKI_DIR" -server "$apiserver_url" -node "$NODE_NAME" \
  -san "$NODE_IP" -san "$KUBERNETES_SERVICE_IP" -san 127.0.0.1 -san localhost -san kubernetes \
  -san kubernetes.default -san kubernetes.default.svc -san "kubernetes.default.svc.$CLUSTER_DOMAIN"
cp "$PKI_DIR/admin.kubeconfig" "$KUBECONFIG_FILE"
"$here/render-config.sh"

"$IMAGES_BIN/mkimage" -tag "$PAUSE_IMAGE" -o "$IMAGE_DIR/pause.tar" \
  -file "$IMAGES_BIN/pause=/pause" -entrypoint /pause -user 65535:65535
"$IMAGES_BIN/mkimage" -tag "$E2E_APP_IMAGE" -o "$IMAGE_DIR/e2e-app.tar" \
  -file "$IMAGES_BIN/e2e-app=/e2e-app" -entrypoint /e2e-app -user 65532:65532

# ---- control plane ----------------------------------------------------------
start etcd "$KUBE_BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster "$NODE_NAME=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync
wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health"

start kube-apiserver "$KUBE_BIN/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
  --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
  --tls-cert-file "$PKI_DIR/apiserver.crt" --tls-private-key-file "$PKI_DIR/apiserver.key" \
  --client-ca-file "$PKI_DIR/ca.crt" \
  --kubelet-client-certificate "$PKI_DIR/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI_DIR/apiserver-kubelet-client.key" \
  --kubelet-preferred-address-types InternalIP \
  --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file "$PKI_DIR/sa.pub" --service-account-signing-key-file "$PKI_DIR/sa.key" \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --allow-privileged --profiling=false
wait_for kube-apiserver 60 kubectl_admin get --raw /readyz

# Images are imported, never pulled. Should a pod name an image that is not
# there, the pull goes to a proxy on a closed loopback port and fails at once,
# instead of looking up a registry on the network.
start_env=("HTTP_PROXY=$PULL_PROXY" "HTTPS_PROXY=$PULL_PROXY" NO_PROXY=)
start containerd "$(command -v containerd)" --config "$CONFIG_DIR/containerd.toml"
start_env=()
wait_for containerd 30 ctr_k8s version
for tar in "$IMAGE_DIR"/*.tar; do
  ctr_k8s images import "$tar" >/dev/null || fail containerd "importing $tar"
done

start kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
  --kubeconfig "$PKI_DIR/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$PKI_DIR/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$PKI_DIR/kube-controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$CONTROLLER_MANAGER_PORT" \
  --service-account-private-key-file "$PKI_DIR/sa.key" --root-ca-file "$PKI_DIR/ca.crt" \
  --cluster-signing-cert-file "$PKI_DIR/ca.crt" --cluster-signing-key-file "$PKI_DIR/ca.key" \
  --use-service-account-credentials --service-cluster-ip-range "$SERVICE_CIDR" \
  --allocate-node-cidrs=false --leader-elect=false --profiling=false
start kube-scheduler "$KUBE_BIN/kube-scheduler" \
  --kubeconfig "$PKI_DIR/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig "$PKI_DIR/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$PKI_DIR/kube-scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --secure-port "$SCHEDULER_PORT" --leader-elect=false --profiling=false

# ---- node -------------------------------------------------------------------
start kube-proxy "$KUBE_BIN/kube-proxy" --config "$CONFIG_DIR/kube-proxy.yaml"
start kubelet "$KUBE_BIN/kubelet" --config "$CONFIG_DIR/kubelet.yaml" \
  --kubeconfig "$PKI_DIR/kubelet.kubeconfig" --root-dir "$STATE_DIR/kubelet" \
  --cert-dir "$STATE_DIR/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP"
start coredns "$COREDNS_DIR/coredns" -conf "$CONFIG_DIR/Corefile"

node_ready() {
  [[ $(kubectl_admin get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
dns_answers() {
  [[ $(dig +short +time=1 +tries=1 "@$DNS_IP" "kubernetes.default.svc.$CLUSTER_DOMAIN" A) == "$KUBERNETES_SERVICE_IP" ]]
}
wait_for kubelet 90 node_ready
wait_for coredns 60 dns_answers
# kube-proxy has programmed the kubernetes service once the host reaches the
# API server through the service IP.
wait_for kube-proxy 60 curl -fsS --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
  "https://$KUBERNETES_SERVICE_IP/readyz"
for c in kube-controller-manager kube-scheduler; do
  pid_of "$c" >/dev/null || fail "$c" "$c exited"
done

log "cluster ready in $((SECONDS - start_time))s; logs in $LOG_DIR"
echo "export KUBECONFIG=$KUBECONFIG_FILE"
