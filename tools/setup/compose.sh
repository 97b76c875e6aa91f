#!/usr/bin/env bash
# Installs a Compose command, idempotently, for deploy/compose.yaml and its e2e
# suite (e2e/compose): Debian's docker-compose on the host (bookworm's 1.29, for
# `go test` and users) unless the Docker CLI has the compose plugin already, and
# into Bazel's root fs (see rootfs.sh; sid's docker-compose 2.x with the docker
# CLI) for `bazel test`, whose tests run in a namespace rooted there. Prints
# nothing when both have one. Needs root.
source "$(dirname "$0")/common.sh"

apt_install() { # LOG CHROOT_PREFIX... -- PACKAGES...
  local logf=$1; shift
  local pre=()
  while [ "$1" != "--" ]; do pre+=("$1"); shift; done
  shift
  if ! "${pre[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >"$logf" 2>&1; then
    "${pre[@]}" apt-get update -q >>"$logf" 2>&1
    "${pre[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$logf" 2>&1 \
      || { tail -n 20 "$logf" >&2; log "apt-get install $* failed (log: $logf)"; return 1; }
  fi
}

install_host() {
  docker compose version >/dev/null 2>&1 && return 0
  command -v docker-compose >/dev/null 2>&1 && return 0
  log "installing docker-compose on the host (Debian's package)"
  apt_install "$CACHE/compose-apt.log" -- docker-compose
}

install_rootfs() {
  [ -d "$ROOTFS/usr/share/bazel" ] || return 0 # no Bazel root fs yet: tools/bazel makes it
  [ -x "$ROOTFS/usr/bin/docker-compose" ] && [ -x "$ROOTFS/usr/bin/docker" ] && return 0
  log "installing docker-compose and the docker CLI into Bazel's root fs"
  apt_install "$CACHE/compose-rootfs-apt.log" chroot "$ROOTFS" -- docker-compose docker-cli
  chroot "$ROOTFS" apt-get clean
}

main() {
  if [ "$(id -u)" != 0 ]; then log "tools/setup/compose.sh needs root (apt-get)"; return 1; fi
  install_host
  install_rootfs
}

with_lock compose main
