#!/usr/bin/env bash
# Installs what the data-plane tests (test/dataplane) and `make bench-proxy`
# need on the test machine: iproute2 (ip netns, veth) and nftables (the nft
# CLI, used only by the tests to read back the rules mesh-proxy installs over
# netlink), plus nginx when called with --bench. mesh-proxy itself needs none
# of them. Does nothing when everything is present; needs root to install.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
if [[ "${1:-}" == "--bench" ]]; then
	command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
fi
((${#need[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "hack/dataplane-deps.sh: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Other jobs on a shared machine may hold the dpkg lock for a while.
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The benchmark starts its own nginx in network namespaces; the package's
# service must not listen on the host.
if [[ " ${need[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now nginx >/dev/null 2>&1 || true
fi
echo "hack/dataplane-deps.sh: installed ${need[*]}" >&2
