#!/usr/bin/env bash
# cluster-down: removes every process, mount, cgroup, interface, iptables rule
# and file that cluster-up created, and restores the kernel settings it
# changed. Only what the cluster owns is touched: processes are found through
# our pid files and our containerd socket, mounts and files under our
# directories, chains by their KUBE-/CNI-/MESHCTL- names. Running it twice, or
# with no cluster, is harmless.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$here/lib.sh"

[[ $(id -u) == 0 ]] || { echo "cluster-down: must run as root" >&2; exit 1; }

# stop NAME...: TERM the components we started, then KILL whatever of them
# is still running after three seconds: their state is about to be deleted,
# so a graceful shutdown buys nothing.
stop() {
  local name pid pids=()
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      log "stopping $name ($pid)"
      kill -TERM "$pid" 2>/dev/null
      pids+=("$pid")
    fi
  done
  for _ in $(seq 1 30); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for name in "$@"; do rm -f "$RUN_DIR/$name.pid" "$RUN_DIR/$name.exe"; done
}

# Pods first, so that nothing restarts them: the kubelet, then every task and
# container through containerd, which makes their shims exit and unmount.
stop kubelet
if pid_of containerd >/dev/null && [[ -S $CONTAINERD_SOCKET ]]; then
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1
  done
  for id in $(ctr_k8s tasks ls -q 2>/dev/null); do
    ctr_k8s tasks delete -f "$id" >/dev/null 2>&1
  done
  for id in $(ctr_k8s containers ls -q 2>/dev/null); do
    ctr_k8s containers delete "$id" >/dev/null 2>&1
  done
fi
# The pod sandboxes' ids name libcni's cache entries, removed further down.
sandboxes=$(ls "$STATE_DIR/containerd/io.containerd.grpc.v1.cri/sandboxes" 2>/dev/null)
# The node's components first, then the control plane, then its store.
stop coredns kube-proxy kube-scheduler kube-controller-manager containerd
stop kube-apiserver
stop etcd

# Shims that outlived containerd: ours carry our socket as their -address.
# Their sockets live in /run/containerd/s/, named by a hash of that address,
# the namespace and the container id.
for proc in /proc/[0-9]*; do
  cmdline=$({ tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null) || continue
  [[ $cmdline == *containerd-shim*"-address $CONTAINERD_SOCKET"* ]] || continue
  id=$(sed -n 's/.*-id \([^ ]*\).*/\1/p' <<<"$cmdline")
  log "killing leftover shim ${proc#/proc/} ($id)"
  kill -KILL "${proc#/proc/}" 2>/dev/null
  hash=$(printf '%s' "$CONTAINERD_SOCKET/k8s.io/$id" | sha256sum | cut -d' ' -f1)
  rm -f "/run/containerd/s/$hash"
done

# Pod processes that outlived their shims, then the pods' cgroups, deepest
# first: the kubelet put all of them under kubepods in every hierarchy.
for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
  [[ -d $root ]] || continue
  for _ in 1 2 3; do
    procs=$(find "$root" -name cgroup.procs -exec cat {} + 2>/dev/null)
    [[ -z $procs ]] && break
    log "killing pod processes left in $root"
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $procs 2>/dev/null
    sleep 0.5
  done
  find "$root" -depth -type d -exec rmdir {} + 2>/dev/null
  [[ -d $root ]] && log "warning: could not remove cgroup $root"
done

# Mounts under our directories (pod volumes, container root filesystems, pod
# network namespaces), deepest first, until none is left.
our_mounts() {
  awk -v a="$STATE_DIR" -v b="$RUN_DIR" '{ if (index($5, a) == 1 || index($5, b) == 1) print $5 }' /proc/self/mountinfo | sort -r
}
for _ in 1 2 3 4 5; do
  mounts=$(our_mounts)
  [[ -z $mounts ]] && break
  while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
  done <<<"$mounts"
done
if [[ -n $(our_mounts) ]]; then
  die "mounts are left under $STATE_DIR or $RUN_DIR; not removing files: $(our_mounts | tr '\n' ' ')"
fi

# Interfaces: pod veths still on the bridge, the bridge, the dummy link (its
# addresses and the service route go with it).
for link in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip link del "$link" 2>/dev/null
done
for link in "$BRIDGE" "$NODE_LINK"; do
  if ip link show "$link" >/dev/null 2>&1; then
    log "deleting interface $link"
    ip link del "$link"
  fi
done

# iptables: the rules of kube-proxy, the kubelet, the CNI plugins and our
# isolation chain. Jumps into them from the built-in chains go first, then
# the chains themselves.
ours='^(KUBE-|CNI-|MESHCTL-)'
for cmd in iptables ip6tables; do
  command -v "$cmd" >/dev/null || continue
  for table in filter nat mangle raw; do
    rules=$("$cmd" -w -t "$table" -S 2>/dev/null) || continue
    chains=$(awk -v re="$ours" '$1 == "-N" && $2 ~ re { print $2 }' <<<"$rules")
    [[ -z $chains ]] && continue
    log "removing $cmd $table chains: ${chains//$'\n'/ }"
    while read -r rule; do
      [[ -z $rule ]] && continue
      eval "$cmd -w -t $table -D ${rule#-A }" 2>/dev/null
    done < <(awk -v re="$ours" '$1 == "-A" && $2 !~ re { for (i = 3; i < NF; i++) if (($i == "-j" || $i == "-g") && $(i+1) ~ re) { print; break } }' <<<"$rules")
    for chain in $chains; do "$cmd" -w -t "$table" -F "$chain" 2>/dev/null; done
    for chain in $chains; do "$cmd" -w -t "$table" -X "$chain" 2>/dev/null; done
  done
done

# Kernel settings, as they were before the first cluster-up.
if [[ -f $STATE_DIR/saved-sysctls ]]; then
  while IFS= read -r kv; do sysctl -qw "$kv" 2>/dev/null; done <"$STATE_DIR/saved-sysctls"
fi

# Files outside our directories: libcni's cache entries of our network, the
# kubelet's /var/log/containers links into our pod logs, and any directory
# that did not exist before cluster-up.
rm -f "$CNI_CACHE_DIR"/results/"$CNI_NETWORK"-* 2>/dev/null
for id in $sandboxes; do rm -f "$CNI_CACHE_DIR"/results/*-"$id"-* 2>/dev/null; done
rm -f "$KUBELET_DEVICE_PLUGINS_DIR/kubelet.sock"
for link in /var/log/containers/*.log; do
  [[ -L $link && $(readlink "$link") == "$STATE_DIR"/* ]] && rm -f "$link"
done
if [[ -f $STATE_DIR/created-dirs ]]; then
  while read -r dir; do
    [[ -d $dir ]] && find "$dir" -depth -type d -empty -delete 2>/dev/null
  done <"$STATE_DIR/created-dirs"
fi

rm -rf --one-file-system "$STATE_DIR" "$RUN_DIR"
log "cluster removed"
