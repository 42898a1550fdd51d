# Shared names and helpers of the local cluster, sourced by the scripts in
# hack/cluster. Every address, port, path and name the cluster uses is defined
# here once; cluster-up and cluster-down read the same list.
# shellcheck shell=bash disable=SC2034 # the names are used by the scripts that source this

CLUSTER_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLUSTER_SRC/../.." && pwd)
IMAGES_SRC=$REPO_ROOT/hack/images
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/meshctl

# Network. Everything lives in 198.18.0.0/15 (RFC 2544, used by no real
# network): pods in 198.18.0.0/24 on a bridge, services in 198.19.0.0/16, and
# the node's own addresses in 198.18.255.0/24 on a dummy interface, so that no
# listener is ever on the machine's external interface.
ISOLATED_CIDR=198.18.0.0/15
POD_CIDR=198.18.0.0/24
POD_GATEWAY=198.18.0.1
SERVICE_CIDR=198.19.0.0/16
KUBERNETES_SERVICE_IP=198.19.0.1
NODE_IP=198.18.255.1
DNS_IP=198.18.255.2
NODE_LINK=meshctl0
BRIDGE=meshctl-br0
NODE_NAME=meshctl-node
CLUSTER_DOMAIN=cluster.local
CNI_NETWORK=meshctl
FIREWALL_CHAIN=MESHCTL-ISOLATE

# Ports: fixed, and below the kernel's ephemeral range, so they never meet
# the random loopback ports of the integration tests' API servers.
APISERVER_PORT=16443
ETCD_CLIENT_PORT=12379
ETCD_PEER_PORT=12380
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
KUBE_PROXY_HEALTHZ_PORT=10256
KUBE_PROXY_METRICS_PORT=10249
CONTROLLER_MANAGER_PORT=10257
SCHEDULER_PORT=10259

# Files. State in one directory, sockets and mounts of running things in one
# run directory, logs in one folder; cluster-down removes all three.
STATE_DIR=${MESHCTL_CLUSTER_DIR:-/var/lib/meshctl-cluster}
RUN_DIR=/run/meshctl-cluster
LOG_DIR=$STATE_DIR/logs
PKI_DIR=$STATE_DIR/pki
CONFIG_DIR=$STATE_DIR/config
KUBECONFIG_FILE=$STATE_DIR/kubeconfig
IMAGE_DIR=$STATE_DIR/images
CONTAINERD_SOCKET=$RUN_DIR/containerd/containerd.sock
# libcni keeps its result cache here whatever containerd is told; cluster-down
# removes the entries of our network only.
CNI_CACHE_DIR=/var/lib/cni
# The kubelet serves its device-plugin socket here, ignoring --root-dir.
KUBELET_DEVICE_PLUGINS_DIR=/var/lib/kubelet/device-plugins
# Directories outside ours that the parts create whatever they are told
# (containerd's shim sockets go to /run/containerd/s, the kubelet links
# container logs from /var/log/containers). cluster-up notes which of them did
# not exist before; cluster-down removes those once they are empty again.
OUTSIDE_DIRS=("$CNI_CACHE_DIR" /run/containerd /var/log/containers /var/lib/kubelet)

# A proxy address where nothing listens (the discard port on loopback):
# containerd's pulls go there and fail, so no pull ever leaves the machine.
PULL_PROXY=http://127.0.0.1:9
# Images, imported into containerd's k8s.io namespace, never pulled.
IMAGE_REGISTRY=meshctl.test
PAUSE_IMAGE=$IMAGE_REGISTRY/pause:1
E2E_APP_IMAGE=$IMAGE_REGISTRY/e2e-app:1

# Binaries.
KUBE_BIN=$("$REPO_ROOT/hack/kube/build.sh" 2>/dev/null)
# source_hash DIR: a short hash of a Go module's sources, naming its build.
source_hash() {
  (cd "$1" && find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}
RUNC_DIR=$CACHE/cluster/runc-$(source_hash "$CLUSTER_SRC/runc")
CNI_DIR=$CACHE/cluster/cni-$(source_hash "$CLUSTER_SRC/cni")
COREDNS_DIR=$CACHE/cluster/coredns-$(source_hash "$CLUSTER_SRC/coredns")
PKI_TOOL_DIR=$CACHE/cluster/pki-$(source_hash "$CLUSTER_SRC/pki")
IMAGES_BIN=$CACHE/cluster/images-$(source_hash "$IMAGES_SRC")


# The components, in start order; cluster-up starts them, cluster-down stops them.
COMPONENTS=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kube-proxy kubelet coredns)

log() { printf '%s cluster: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_of NAME: the pid of a component we started, if it is still that process.
pid_of() {
  local pidfile=$RUN_DIR/$1.pid pid exe
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  [[ $exe == "$(<"$RUN_DIR/$1.exe")" ]] || return 1
  echo "$pid"
}

# ctr_k8s ARGS...: ctr against our containerd, in the CRI's namespace.
ctr_k8s() { ctr --address "$CONTAINERD_SOCKET" --namespace k8s.io "$@"; }

kubectl_admin() { "$KUBE_BIN/kubectl" --kubeconfig "$PKI_DIR/admin.kubeconfig" "$@"; }

# any_running: whether any component we started is still running.
any_running() {
  local c
  for c in "${COMPONENTS[@]}"; do pid_of "$c" >/dev/null && return 0; done
  return 1
}

# ensure_packages: the Debian packages the cluster needs, installed when one
# is missing (CI starts from a fresh machine): containerd with its shim and
# ctr, iptables for kube-proxy, libseccomp-dev and pkg-config to build runc,
# dig for the DNS check, curl for health checks.
ensure_packages() {
  local missing=()
  command -v containerd >/dev/null || missing+=(containerd)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v conntrack >/dev/null || missing+=(conntrack)
  command -v dig >/dev/null || missing+=(bind9-dnsutils)
  command -v curl >/dev/null || missing+=(curl)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [[ -f /usr/include/seccomp.h ]] || missing+=(libseccomp-dev)
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "missing Debian packages ${missing[*]}; install them as root"
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
