#!/usr/bin/env bash
# Installs what the browser tests (pkg/dashboard's, which drive
# `meshctl dashboard`'s page in headless Chromium through chromedp) need on
# the test machine: Debian's chromium, at /usr/bin/chromium. meshctl itself
# needs no browser. Does nothing when it is present; needs root to install.
set -euo pipefail

need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
((${#need[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
	echo "hack/browser-deps.sh: missing ${need[*]}; run as root: apt-get install -y ${need[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Other jobs on a shared machine may hold the dpkg lock for a while.
apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "hack/browser-deps.sh: installed ${need[*]}" >&2
