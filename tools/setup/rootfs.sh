#!/usr/bin/env bash
# Builds (once) the Debian sid root fs that carries Bazel 7 (Debian's bazel-bootstrap),
# rules_pkg, rules_shell, protoc and the well-known/googleapis .proto files.
# Idempotent: a stamp file records the package set it was built with.
source "$(dirname "$0")/common.sh"

PACKAGES="bazel-bootstrap bazel-rules-pkg bazel-rules-shell protobuf-compiler libprotobuf-dev libprotoc-dev python3-googleapis-common-protos git ca-certificates"
STAMP=$ROOTFS/.hindsight-stamp
want="v1 $PACKAGES"

build() {
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then return 0; fi
  local tools=$CACHE/tools
  mkdir -p "$tools"
  if [ ! -x "$tools/debootstrap/usr/sbin/debootstrap" ]; then
    log "fetching debootstrap (unpacked, not installed on the host)"
    (cd "$tools" && rm -f debootstrap_*.deb && apt-get download -q debootstrap/bookworm >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get download -q debootstrap/bookworm; })
    dpkg-deb -x "$tools"/debootstrap_*.deb "$tools/debootstrap"
  fi
  rm -rf "$ROOTFS.tmp"
  log "debootstrap sid into $ROOTFS (about a minute)"
  DEBOOTSTRAP_DIR=$tools/debootstrap/usr/share/debootstrap \
    "$tools/debootstrap/usr/sbin/debootstrap" --variant=minbase --include=ca-certificates sid "$ROOTFS.tmp" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
    || { tail -n 30 "$CACHE/debootstrap.log" >&2; exit 1; }
  local r=$ROOTFS.tmp
  # The mirror snapshot's Release file may be past its Valid-Until date.
  echo 'Acquire::Check-Valid-Until "false";' >"$r/etc/apt/apt.conf.d/99no-valid-until"
  echo 'APT::Install-Recommends "false";' >"$r/etc/apt/apt.conf.d/99norecommends"
  cp /usr/local/share/ca-certificates/*.crt "$r/usr/local/share/ca-certificates/" 2>/dev/null || true
  cp -L /etc/resolv.conf "$r/etc/resolv.conf"
  mount -t proc proc "$r/proc"
  trap 'umount "$r/proc" 2>/dev/null || true' EXIT
  log "installing Bazel and protoc into the root fs (about 80 s)"
  chroot "$r" apt-get update -q >"$CACHE/apt.log" 2>&1
  chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PACKAGES >>"$CACHE/apt.log" 2>&1 \
    || { tail -n 30 "$CACHE/apt.log" >&2; exit 1; }
  chroot "$r" update-ca-certificates >/dev/null 2>&1 || true
  chroot "$r" apt-get clean
  umount "$r/proc"; trap - EXIT
  # Debian's bazelrc try-imports /etc/bazel.bazelrc: keep the output root on a path
  # that is the same inside and outside, so bazel-bin/ links resolve from the host.
  echo "startup --output_user_root=$OUTPUT_USER_ROOT" >"$r/etc/bazel.bazelrc"
  echo "$want" >"$r/.hindsight-stamp"
  rm -rf "$ROOTFS"; mv "$r" "$ROOTFS"
  log "root fs ready: $(chroot "$ROOTFS" bazel --version 2>/dev/null || echo bazel)"
}
with_lock rootfs build
