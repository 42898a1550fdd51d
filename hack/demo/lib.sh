# Helpers of the demo scripts (demo.sh, down.sh): steps, printing each command
# before running it, and the checks that stop the demo with a clear message.
# Sourced after hack/cluster/lib.sh, whose log and die it replaces.
# shellcheck shell=bash

# Bold only for a terminal, and never with NO_COLOR (https://no-color.org).
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  bold=$'\e[1m' reset=$'\e[0m'
else
  bold='' reset=''
fi

demo_name=${DEMO_NAME:-make demo}
current_step="starting"
main_pid=$BASHPID

# step TITLE: starts a step; a failure from here on names it.
step() {
  current_step=$1
  printf '\n%s==> %s%s\n' "$bold" "$1" "$reset"
}

# note TEXT: a remark of the demo's own, not a command.
note() { printf '# %s\n' "$*"; }

log() { printf '%s: %s\n' "$demo_name" "$*" >&2; }

# die MESSAGE: stops the demo, naming the step.
die() {
  printf '%s: step "%s" failed: %s\n' "$demo_name" "$current_step" "$*" >&2
  exit 1
}

# Any command that fails unchecked stops the demo the same way. Subshells
# inherit the trap (set -E); only the main shell reports.
on_error() {
  local code=$1
  if [[ $BASHPID == "$main_pid" ]]; then
    printf '%s: step "%s" failed: the command above exited %d\n' "$demo_name" "$current_step" "$code" >&2
    exit 1
  fi
  exit "$code"
}
trap 'on_error $?' ERR

# render ARG...: the command as one would type it, quoting only where needed.
render() {
  local out='' arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then
      out+=" $arg"
    elif [[ $arg != *"'"* ]]; then
      out+=" '$arg'"
    else
      out+=" $(printf '%q' "$arg")"
    fi
  done
  printf '%s' "${out# }"
}

# show CMD...: prints "$ CMD" and runs it, its output as it comes.
show() {
  printf '%s$ %s%s\n' "$bold" "$(render "$@")" "$reset"
  "$@"
}

# show_as TEXT CMD...: prints "$ TEXT" and runs CMD, for commands shown
# better than they are run (a pipe, a secret read from a file).
show_as() {
  local text=$1; shift
  printf '%s$ %s%s\n' "$bold" "$text" "$reset"
  "$@"
}

# expect_status CODE WHAT TEXT CMD...: runs a /fetch command (shown as TEXT),
# prints its output, and stops the demo unless the status line is CODE. Right
# after a rollout, a Service's endpoints may not have reached kube-proxy yet,
# so a different answer is retried for up to 30 seconds, saying so.
expect_status() {
  local want=$1 what=$2 text=$3 out deadline=$((SECONDS + 30))
  shift 3
  note "$what"
  printf '%s$ %s%s\n' "$bold" "$text" "$reset"
  until out=$("$@" 2>&1) && [[ $out == "$want "* ]]; do
    if ((SECONDS >= deadline)); then
      printf '%s\n' "$out"
      die "want status $want, got: $(head -n 1 <<<"$out")"
    fi
    note "got \"$(head -n 1 <<<"$out")\", want $want: trying again"
    sleep 2
  done
  printf '%s\n' "$out"
}

# mesh_installed: whether the cluster has a control plane of this mesh.
mesh_installed() {
  # Read whole before matching: grep -q would stop reading early, and under
  # pipefail meshctl's SIGPIPE would then read as "not installed".
  local out
  out=$(meshctl version -o json 2>/dev/null) || return 1
  [[ $out == *'"controlPlane"'* ]]
}

# wait_meshed NS/APP...: waits for each Deployment to roll out and checks
# that its pods carry the mesh's sidecar; on failure, shows the pods and
# their namespace's events.
wait_meshed() {
  local app ns name containers
  for app in "$@"; do
    ns=${app%/*} name=${app#*/}
    if ! show kubectl rollout status -n "$ns" "deploy/$name" --timeout 3m; then
      kubectl get pods -n "$ns" -o wide >&2 || true
      kubectl get events -n "$ns" --sort-by .lastTimestamp >&2 || true
      die "deployment $ns/$name did not become ready"
    fi
    # The proxy is a native sidecar (an init container); older meshctl
    # versions put it among the containers.
    containers=$(kubectl get pods -n "$ns" -l "app=$name" --field-selector status.phase=Running -o 'jsonpath={.items[*].spec.initContainers[*].name} {.items[*].spec.containers[*].name}')
    [[ " $containers " == *" mesh-proxy "* ]] ||
      die "the pods of $ns/$name have no mesh-proxy sidecar (containers: $containers); were they created before the namespace was enrolled? \`meshctl namespace add $ns --restart\` restarts them"
  done
}

# inject_books: the books example, meshed offline with the cluster's
# MeshConfig (JWT validation included) and applied.
inject_books() {
  meshctl inject --from-cluster -f examples/books/ | kubectl apply -f -
}

# admin_port NS POD: the port of the proxy's admin server (/metrics), read
# from the injected pod itself (the proxy's port named mesh-admin), so that
# the number is defined only in pkg/proxyconfig.
admin_port() {
  local port
  port=$(kubectl get pod -n "$1" "$2" -o 'jsonpath={.spec.initContainers[?(@.name=="mesh-proxy")].ports[?(@.name=="mesh-admin")].containerPort}{.spec.containers[?(@.name=="mesh-proxy")].ports[?(@.name=="mesh-admin")].containerPort}') || die "pod $1/$2 could not be read"
  [[ -n $port ]] || die "pod $1/$2 has no mesh-proxy port named mesh-admin"
  printf '%s\n' "$port"
}

# proxy_denials NS POD PORT: what the proxy's policy refused, by caller and
# reason (mesh_proxy_authz_denied_total).
proxy_denials() {
  local out
  out=$(kubectl get --raw "/api/v1/namespaces/$1/pods/$2:$3/proxy/metrics") || die "the metrics of $1/$2's proxy could not be read"
  grep '^mesh_proxy_authz_denied_total' <<<"$out" || die "$1/$2's proxy reports no mesh_proxy_authz_denied_total"
}

# proxy_metrics NS POD PORT: the proxy's request counters, through the API
# server's pod proxy to its admin port. mesh_proxy_requests_total is the
# proxy's request counter (docs/getting-started.md shows it).
proxy_metrics() {
  local out
  out=$(kubectl get --raw "/api/v1/namespaces/$1/pods/$2:$3/proxy/metrics") || die "the metrics of $1/$2's proxy could not be read"
  grep '^mesh_proxy_requests_total' <<<"$out" || die "$1/$2's proxy reports no mesh_proxy_requests_total"
}
