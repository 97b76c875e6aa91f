#!/usr/bin/env bash
# Keeps the checked-in generated code (for plain `go build` and gopls) equal to what
# Bazel generates from the protos.
#   sync.sh update GENERATED...            copy into the workspace (bazel run)
#   sync.sh check GENERATED... -- CHECKED... compare (bazel test)
set -euo pipefail
mode=$1; shift
module=github.com/hindsight-dev/hindsight/

# dest maps a generated file's runfiles path to its place in the source tree.
dest() {
  case "$1" in
    *.swagger.json) echo "proto/openapi/$(basename "$1")" ;;
    *"/$module"*) echo "${1#*/$module}" ;;
    *) echo "sync.sh: cannot place $1" >&2; return 1 ;;
  esac
}

generated=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do generated+=("$1"); shift; done
[ $# -gt 0 ] && shift

case "$mode" in
update)
  cd "${BUILD_WORKSPACE_DIRECTORY:?run me with bazel run}"
  runfiles=$OLDPWD
  for g in "${generated[@]}"; do
    d=$(dest "$g")
    mkdir -p "$(dirname "$d")"
    install -m 0644 "$runfiles/$g" "$d"
    echo "updated $d"
  done
  ;;
check)
  declare -A checked=()
  for c in "$@"; do checked[$c]=1; done
  stale=0
  for g in "${generated[@]}"; do
    d=$(dest "$g")
    if [ -z "${checked[$d]:-}" ]; then
      echo "missing: $d"; stale=1
    elif ! cmp -s "$g" "$d"; then
      echo "stale: $d"; diff -u "$d" "$g" | head -n 20 || true; stale=1
    fi
    unset "checked[$d]"
  done
  for c in "${!checked[@]}"; do echo "no longer generated: $c"; stale=1; done
  if [ "$stale" = 1 ]; then
    echo "generated code is out of date: run tools/bazel run //tools/proto:update"; exit 1
  fi
  echo "${#generated[@]} generated files up to date"
  ;;
*) echo "usage: sync.sh update|check ..." >&2; exit 2 ;;
esac
