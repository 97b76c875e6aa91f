#!/usr/bin/env bash
# Installs the REST contract suite's third-party tools (e2e/contract), idempotently,
# under the cache directory where `bazel test` (inside Bazel's root fs) can run them:
#   $CACHE/contract/venv   Schemathesis (PyPI), in a virtualenv of the root fs's Python
#   $CACHE/contract/npm    @redocly/cli (npm), the OpenAPI linter
# Debian's python3-venv, nodejs and npm go into the root fs first. Versions are pinned
# here. Prints nothing when everything is in place. Needs root.
source "$(dirname "$0")/common.sh"

SCHEMATHESIS_VERSION=4.32.5
REDOCLY_VERSION=2.77.0
DIR=$CACHE/contract

# apt-get installs into the root fs itself (chroot, as chromium.sh does); the
# tools go to the cache directory, which is bind-mounted only inside Bazel's
# mount namespace (ns.sh), so they are installed from in there, at the same path.
in_rootfs() { chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive HOME=/root "$@"; }
in_ns() { nsenter -t "$(cat "$NS_PID")" -m -- env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "$@"; }

debs() {
  in_rootfs sh -c 'python3 -c "import ensurepip" 2>/dev/null && command -v npm' >/dev/null 2>&1 && return 0
  log "installing python3-venv, nodejs and npm into Bazel's root fs"
  if ! in_rootfs apt-get install -y -q python3-venv nodejs npm >"$CACHE/contract-apt.log" 2>&1; then
    in_rootfs apt-get update -q >>"$CACHE/contract-apt.log" 2>&1
    in_rootfs apt-get install -y -q python3-venv nodejs npm >>"$CACHE/contract-apt.log" 2>&1 \
      || { tail -n 20 "$CACHE/contract-apt.log" >&2; log "installing the contract tools' packages failed"; return 1; }
  fi
  in_rootfs apt-get clean
}

schemathesis() {
  [ "$(cat "$DIR/venv/.version" 2>/dev/null)" = "$SCHEMATHESIS_VERSION" ] && return 0
  log "installing Schemathesis $SCHEMATHESIS_VERSION into ${DIR#$HOME/}/venv"
  rm -rf "$DIR/venv"
  mkdir -p "$DIR"
  in_ns python3 -m venv "$DIR/venv" >"$CACHE/contract-pip.log" 2>&1 &&
    in_ns "$DIR/venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" >>"$CACHE/contract-pip.log" 2>&1 \
    || { tail -n 20 "$CACHE/contract-pip.log" >&2; log "pip install schemathesis failed"; return 1; }
  echo "$SCHEMATHESIS_VERSION" >"$DIR/venv/.version"
}

redocly() {
  [ "$(cat "$DIR/npm/.version" 2>/dev/null)" = "$REDOCLY_VERSION" ] && return 0
  log "installing @redocly/cli $REDOCLY_VERSION into ${DIR#$HOME/}/npm"
  rm -rf "$DIR/npm"
  mkdir -p "$DIR/npm"
  in_ns npm install --prefix "$DIR/npm" --no-audit --no-fund --loglevel=error "@redocly/cli@$REDOCLY_VERSION" >"$CACHE/contract-npm.log" 2>&1 \
    || { tail -n 20 "$CACHE/contract-npm.log" >&2; log "npm install @redocly/cli failed"; return 1; }
  echo "$REDOCLY_VERSION" >"$DIR/npm/.version"
}

main() {
  if [ "$(id -u)" != 0 ]; then log "tools/setup/contract.sh needs root (chroot, apt-get)"; return 1; fi
  [ -d "$ROOTFS/usr/share/bazel" ] || { log "no Bazel root fs yet: run tools/bazel first"; return 1; }
  debs
  "$(dirname "$0")/ns.sh"
  schemathesis
  redocly
}

with_lock contract main
