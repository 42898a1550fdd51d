#!/usr/bin/env bash
# jwt.sh: the books example's test key and tokens, and the MeshConfig change
# that makes the mesh validate them.
#
#   examples/books/jwt.sh [DIR]              make or refresh DIR, print the meshctl command
#   examples/books/jwt.sh --print-env [DIR]  the same, but print shell assignments for scripts:
#                                            eval "$(examples/books/jwt.sh --print-env)"
#
# DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/examples/books-jwt,
# outside the repository: the private key is never committed. It runs
# examples/apps/jwtgen (with `go run`, or the binary $JWTGEN names), which
# reuses DIR's key when it has one, so a mesh already configured with its JWKS
# keeps accepting the fresh tokens. JWT_ISSUER, JWT_AUDIENCE and JWT_SUBJECT
# override the claims.
set -euo pipefail

issuer=${JWT_ISSUER:-https://issuer.books.example}
audience=${JWT_AUDIENCE:-books}
subject=${JWT_SUBJECT:-demo-reader}

print_env=false
if [[ ${1:-} == --print-env ]]; then
  print_env=true
  shift
fi
if (($# > 1)) || [[ ${1:-} == -* ]]; then
  echo "usage: $0 [--print-env] [DIR]" >&2
  exit 2
fi
dir=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/meshctl/examples/books-jwt}
# Absolute, for the commands printed below; jwtgen creates it, mode 0700.
[[ $dir == /* ]] || dir=$PWD/$dir
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [[ -d $dir && $(cd "$dir" && pwd -P) == "$(cd "$repo/examples/books" && pwd -P)" ]]; then
  # meshctl inject -f examples/books/ would read jwks.json as a manifest.
  echo "$0: DIR must not be examples/books itself; use a directory of its own" >&2
  exit 2
fi

args=(-dir "$dir" -issuer "$issuer" -audience "$audience" -subject "$subject")
if [[ -n ${JWTGEN:-} ]]; then
  "$JWTGEN" "${args[@]}"
else
  (cd "$repo" && go run ./examples/apps/jwtgen "${args[@]}")
fi

if $print_env; then
  # %q quotes for the shell that evals this.
  printf 'JWT_DIR=%q\n' "$dir"
  printf 'JWT_ISSUER=%q\n' "$issuer"
  printf 'JWT_AUDIENCE=%q\n' "$audience"
  printf 'JWT_SUBJECT=%q\n' "$subject"
  printf 'JWT_JWKS_FILE=%q\n' "$dir/jwks.json"
  printf 'JWT_TOKEN=%q\n' "$(<"$dir/token")"
  printf 'JWT_TOKEN_BAD=%q\n' "$(<"$dir/token-bad")"
  printf 'JWT_TOKEN_EXPIRED=%q\n' "$(<"$dir/token-expired")"
  exit 0
fi

qdir=$(printf %q "$dir") qissuer=$(printf %q "$issuer") qaudience=$(printf %q "$audience")
cat <<EOT
Wrote the key and tokens to $qdir. Turn JWT validation on for the books namespace of the live mesh:

  meshctl config set auth.jwt.enable=true auth.jwt.issuer=$qissuer auth.jwt.audiences=$qaudience auth.jwt.jwks="\$(cat $qdir/jwks.json)" 'auth.jwt.destinations=[{"namespace":"books"}]'

Running proxies of books follow within a second, and no other workload asks
for a token (mesh books with
\`meshctl inject -f examples/books/ | kubectl apply -f -\` if it is not); then:

  kubectl exec -n books deploy/books -c books -- /fetch -H "Authorization: Bearer \$(cat $qdir/token)" http://books.books:8080/api/books/1
EOT
