#!/usr/bin/env bash
# Writes the configuration files of containerd, the CNI network, the kubelet,
# kube-proxy and CoreDNS into $CONFIG_DIR, from the names in lib.sh. Each
# file pins its listeners to loopback or the node's dummy interface.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"
mkdir -p "$CONFIG_DIR" "$CONFIG_DIR/net.d"

# write FILE: stdin to FILE, atomically.
write() { cat >"$1.tmp" && mv "$1.tmp" "$1"; }

write "$CONFIG_DIR/containerd.toml" <<TOML
version = 2
root = "$STATE_DIR/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "$CONTAINERD_SOCKET"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE_DIR/containerd-opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM refuses to lower oom_score_adj, which runc would otherwise try.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  # Pod network namespaces are mounted under our run directory, not the
  # machine-wide /var/run/netns, so cluster-down finds every one.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$RUNC_DIR/runc"
        # runc's container state under our run directory, not /run/containerd.
        Root = "$RUN_DIR/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_DIR"
    conf_dir = "$CONFIG_DIR/net.d"
    max_conf_num = 1
TOML

# ipMasq false: pod traffic is never rewritten to leave as the host.
write "$CONFIG_DIR/net.d/10-$CNI_NETWORK.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE_DIR/cni-ipam",
        "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": false}
  ]
}
JSON

write "$CONFIG_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI_DIR/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$CONTAINERD_SOCKET
cgroupDriver: cgroupfs
# The test machine runs cgroup v1; kubelet 1.34 still supports it.
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_IP]
clusterDomain: $CLUSTER_DOMAIN
# No host resolv.conf: pods see cluster DNS only, with no upstream to reach.
resolvConf: ""
podLogsDir: $STATE_DIR/pod-logs
# Never collect images by disk pressure: they are imported, not pullable.
imageGCHighThresholdPercent: 100
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
maxPods: 60
serializeImagePulls: false
YAML

write "$CONFIG_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: $PKI_DIR/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: $NODE_IP:$KUBE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
clusterCIDR: $POD_CIDR
# Node ports only on the node's own address, never the external interface,
# and no localhost node ports (they need route_localnet).
nodePortAddresses: [$NODE_IP/32]
iptables:
  localhostNodePorts: false
# Leave the machine's conntrack limits as they are.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
YAML

# No forward plugin exists in this CoreDNS: names outside the cluster domain
# get no answer, and no query leaves the machine.
write "$CONFIG_DIR/Corefile" <<COREFILE
.:53 {
    bind $DNS_IP
    errors
    log
    cache 5
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $PKI_DIR/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
COREFILE
