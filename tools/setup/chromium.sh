#!/usr/bin/env bash
# Installs Debian's chromium, idempotently, for the page tests (headless Chromium
# driven by chromedp): on the host for `go test`, and into Bazel's root fs (see
# rootfs.sh) for `bazel test`, whose tests run in a namespace rooted there. Prints
# nothing when both have it. Needs root.
source "$(dirname "$0")/common.sh"

install_host() {
  command -v chromium >/dev/null 2>&1 && return 0
  log "installing chromium on the host (Debian's package)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q chromium >"$CACHE/chromium-apt.log" 2>&1; then
    apt-get update -q >>"$CACHE/chromium-apt.log" 2>&1
    apt-get install -y -q chromium >>"$CACHE/chromium-apt.log" 2>&1 \
      || { tail -n 20 "$CACHE/chromium-apt.log" >&2; log "apt-get install chromium failed"; return 1; }
  fi
}

install_rootfs() {
  [ -d "$ROOTFS/usr/share/bazel" ] || return 0 # no Bazel root fs yet: tools/bazel makes it
  [ -x "$ROOTFS/usr/bin/chromium" ] && return 0
  log "installing chromium into Bazel's root fs"
  if ! chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >"$CACHE/chromium-rootfs-apt.log" 2>&1; then
    chroot "$ROOTFS" apt-get update -q >>"$CACHE/chromium-rootfs-apt.log" 2>&1
    chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >>"$CACHE/chromium-rootfs-apt.log" 2>&1 \
      || { tail -n 20 "$CACHE/chromium-rootfs-apt.log" >&2; log "installing chromium into the root fs failed"; return 1; }
  fi
  chroot "$ROOTFS" apt-get clean
}

main() {
  if [ "$(id -u)" != 0 ]; then log "tools/setup/chromium.sh needs root (apt-get)"; return 1; fi
  install_host
  install_rootfs
}

with_lock chromium main
