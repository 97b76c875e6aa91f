#!/usr/bin/env bash
# Starts (once) a long-lived private mount namespace whose root is the sid root fs.
# pivot_root, not chroot: inside a chroot the kernel refuses CLONE_NEWUSER, which
# Bazel's linux-sandbox needs. The Go SDK, the Go module cache, the cache directory,
# the workspace and /run (Docker's socket) are bind-mounted at the same paths inside
# and out, so bazel-bin/ links resolve from the host. The host's mounts are untouched.
source "$(dirname "$0")/common.sh"

GOROOT_HOST=$(go env GOROOT)
GOMODCACHE_HOST=$(go env GOMODCACHE)
WS=${WS:-$REPO_ROOT}

running() { [ -s "$NS_PID" ] && kill -0 "$(cat "$NS_PID")" 2>/dev/null; }

# A workspace must be visible inside: each one gets a bind mount on first use.
mount_ws() {
  local target=$ROOTFS$WS
  if nsenter -t "$(cat "$NS_PID")" -m -- test -f "$WS/MODULE.bazel"; then return 0; fi
  mkdir -p "$target"
  nsenter -t "$(cat "$NS_PID")" -m -- sh -c "mkdir -p '$WS' && mount --bind '/.host$WS' '$WS'" 2>/dev/null \
    || { log "cannot mount $WS into the namespace"; return 1; }
}

start() {
  if ! running; then
    cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    mkdir -p "$GOMODCACHE_HOST" "$ROOTFS/usr/local/go" "$ROOTFS/root/go/pkg/mod" "$ROOTFS$CACHE" "$ROOTFS/.host" "$ROOTFS/run/host"
    R=$ROOTFS GOROOT_HOST=$GOROOT_HOST GOMODCACHE_HOST=$GOMODCACHE_HOST CACHE=$CACHE setsid unshare --mount --propagation private sh -c '
      set -e
      mount --bind "$R" "$R"
      mount -t proc proc "$R/proc"
      mount --rbind /sys "$R/sys"
      mount --rbind /dev "$R/dev"
      mount --bind "$GOROOT_HOST" "$R/usr/local/go"; mount -o remount,bind,ro "$R/usr/local/go"
      mount --bind "$GOMODCACHE_HOST" "$R/root/go/pkg/mod"
      mount --bind "$CACHE" "$R$CACHE"
      mount --rbind /run "$R/run/host"
      # The host root stays reachable at /.host (read-write) for workspace binds.
      mount --rbind / "$R/.host"
      cd "$R"; mkdir -p .oldroot; pivot_root . .oldroot; cd /
      umount -l /.oldroot
      exec sleep infinity
    ' </dev/null >"$CACHE/ns.log" 2>&1 &
    echo $! >"$NS_PID"
    for _ in $(seq 50); do
      nsenter -t "$(cat "$NS_PID")" -m -- test -d /usr/share/bazel 2>/dev/null && break
      sleep 0.1
    done
    running || { log "namespace failed to start: $(cat "$CACHE/ns.log")"; return 1; }
  fi
  mount_ws
}
with_lock ns start
