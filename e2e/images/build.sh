#!/usr/bin/env bash
# Builds the third-party images the e2e suites run (etcd, HAProxy, ...) from Debian
# packages, with nothing pulled from a registry:
#
#   hindsight-e2e/debian-base:bookworm   debootstrap --variant=minbase, `docker import`ed
#   hindsight-e2e/<name>:<tag>           FROM that base, Debian packages installed from
#                                        .debs downloaded on the host (the build itself
#                                        runs with --network none)
#
# Usage: e2e/images/build.sh [NAME...]   (no NAME: every image; --list: the names)
#
# Idempotent: every image carries a label with a hash of this script and of its parent
# image, and is rebuilt only when that label differs (so editing this script rebuilds).
# Caches (the base root fs tarball, downloaded .debs) live under $HINDSIGHT_CACHE/e2e.
#
# To add an image: write image_<name> (setting tag, parent, packages, dockerfile) and,
# if it needs more than .debs (e.g. jars from Maven Central), context_<name> CTX_DIR to
# put extra files into the build context.
source "$(dirname "$0")/../../tools/setup/common.sh"

SCRIPT=$(readlink -f "$0")
SCRIPT_HASH=$(sha256sum "$SCRIPT" | cut -c1-16)
E2E_CACHE=$CACHE/e2e
LABEL=org.hindsight.e2e.build
SUITE=bookworm
BASE_TAG=hindsight-e2e/debian-base:$SUITE
BASE_ROOT=$E2E_CACHE/debian-$SUITE-root     # the base root fs, used to resolve packages
BASE_TAR=$E2E_CACHE/debian-$SUITE-minbase.tar
SECURITY_MIRROR=${HINDSIGHT_DEBIAN_SECURITY_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian-security\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}

# ---------------------------------------------------------------------------------
# Image definitions. Each sets: tag, parent ("base" or another image's name),
# packages (Debian packages to install) and dockerfile (the lines after FROM/COPY).

image_etcd() {
  tag=hindsight-e2e/etcd:3
  parent=base
  packages="etcd-server"
  # Defaults through etcd's own ETCD_* variables so a container can override any of
  # them with -e. The client URL it advertises is the container's address unless
  # ETCD_ADVERTISE_CLIENT_URLS is given (e.g. http://<network alias>:2379). A single
  # member: the peer port listens on loopback only.
  dockerfile=$(cat <<'EOF'
RUN printf '%s\n' '#!/bin/sh' 'set -e' \
      ': "${ETCD_ADVERTISE_CLIENT_URLS:=http://$(hostname -i | cut -d" " -f1):2379}"' \
      'export ETCD_ADVERTISE_CLIENT_URLS' 'exec /usr/bin/etcd "$@"' >/usr/local/bin/etcd-entrypoint \
 && chmod 0755 /usr/local/bin/etcd-entrypoint \
 && mkdir -p /var/lib/etcd && chown etcd:etcd /var/lib/etcd && chmod 0700 /var/lib/etcd
ENV ETCD_NAME=etcd \
    ETCD_DATA_DIR=/var/lib/etcd \
    ETCD_LISTEN_CLIENT_URLS=http://0.0.0.0:2379 \
    ETCD_LISTEN_PEER_URLS=http://localhost:2380 \
    ETCD_INITIAL_ADVERTISE_PEER_URLS=http://localhost:2380 \
    ETCD_INITIAL_CLUSTER=etcd=http://localhost:2380
USER etcd
VOLUME /var/lib/etcd
EXPOSE 2379
ENTRYPOINT ["/usr/local/bin/etcd-entrypoint"]
EOF
)
}

image_haproxy() {
  tag=hindsight-e2e/haproxy:2
  parent=base
  packages="haproxy"
  # Master-worker mode in the foreground: SIGUSR2 reloads the configuration,
  # SIGUSR1 stops gracefully. Mount a config at /usr/local/etc/haproxy/haproxy.cfg
  # (Debian's default one is copied there).
  dockerfile=$(cat <<'EOF'
RUN mkdir -p /usr/local/etc/haproxy /run/haproxy \
 && cp /etc/haproxy/haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg
STOPSIGNAL SIGUSR1
EXPOSE 80
ENTRYPOINT ["/usr/sbin/haproxy", "-W", "-db"]
CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]
EOF
)
}

image_serf() {
  tag=hindsight-e2e/serf:0
  parent=base
  packages="serf"
  # HashiCorp's serf (gossip membership and failure detection), Debian's build. The
  # e2e benchmark compares its member-failed detection with Hindsight's membership;
  # it adds its own binaries and handlers on top of this image.
  dockerfile=$(cat <<'EOF'
EXPOSE 7946
ENTRYPOINT ["/usr/bin/serf"]
CMD ["agent"]
EOF
)
}

IMAGES="etcd haproxy serf"

# ---------------------------------------------------------------------------------

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null; }
image_label() { docker image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null; }

debootstrap_bin() {
  local tools=$CACHE/tools
  if [ ! -x "$tools/debootstrap/usr/sbin/debootstrap" ]; then
    log "fetching debootstrap (unpacked, not installed on the host)"
    mkdir -p "$tools"
    (cd "$tools" && rm -f debootstrap_*.deb && apt-get download -q debootstrap/bookworm >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get download -q debootstrap/bookworm; })
    dpkg-deb -x "$tools"/debootstrap_*.deb "$tools/debootstrap"
  fi
  echo "$tools/debootstrap"
}

# The base root fs (cached as a tarball) and its image.
base_key() { echo "v1 $SUITE minbase $MIRROR $SECURITY_MIRROR"; }

make_base_rootfs() {
  local key; key=$(base_key)
  if [ -f "$BASE_TAR" ] && [ "$(cat "$BASE_TAR.key" 2>/dev/null)" = "$key" ] && [ -d "$BASE_ROOT" ]; then
    return 0
  fi
  local dbs; dbs=$(debootstrap_bin)
  local root=$BASE_ROOT.tmp
  rm -rf "$root" "$BASE_ROOT"
  log "debootstrap $SUITE minbase (about a minute)"
  DEBOOTSTRAP_DIR=$dbs/usr/share/debootstrap "$dbs/usr/sbin/debootstrap" --variant=minbase "$SUITE" "$root" "$MIRROR" \
    >"$E2E_CACHE/debootstrap.log" 2>&1 || { tail -n 30 "$E2E_CACHE/debootstrap.log" >&2; return 1; }
  # The same sources the host uses; no recommends; the mirror snapshot's Release file
  # may be past its Valid-Until date; no service starts inside images (as in Docker's
  # own Debian images).
  {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY_MIRROR" ] || echo "deb $SECURITY_MIRROR $SUITE-security main"
  } >"$root/etc/apt/sources.list"
  echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99no-valid-until"
  printf '%s\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' >"$root/etc/apt/apt.conf.d/99norecommends"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"; chmod 0755 "$root/usr/sbin/policy-rc.d"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/log/*.log
  tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  echo "$key" >"$BASE_TAR.key"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  mv "$root" "$BASE_ROOT"
}

build_base() {
  local want; want=$(base_key | sha256sum | cut -c1-16)
  make_base_rootfs
  if [ "$(image_label "$BASE_TAG")" = "$want" ]; then return 0; fi
  log "importing $BASE_TAG"
  docker import --change "LABEL $LABEL=$want" --change 'CMD ["/bin/bash"]' "$BASE_TAR" "$BASE_TAG" >/dev/null
}

# chain NAME: the packages of NAME's parents, then NAME's own (one image per line).
parent_packages() {
  local name=$1 tag parent packages dockerfile all=""
  while [ "$name" != base ]; do
    "image_$name"
    all="$packages $all"
    name=$parent
  done
  echo "$all"
}

# download_debs DIR PACKAGES...: the .debs those packages need on top of the base.
download_debs() {
  local dir=$1; shift
  mkdir -p "$dir"
  [ $# -gt 0 ] || return 0
  local r=$BASE_ROOT
  if [ ! -f "$r/.lists-updated" ] || [ -n "$(find "$r/.lists-updated" -mmin +720)" ]; then
    chroot "$r" apt-get update -q >"$E2E_CACHE/apt.log" 2>&1 || { tail -n 20 "$E2E_CACHE/apt.log" >&2; return 1; }
    touch "$r/.lists-updated"
  fi
  chroot "$r" apt-get clean
  chroot "$r" apt-get install -q -y --download-only "$@" >>"$E2E_CACHE/apt.log" 2>&1 \
    || { tail -n 20 "$E2E_CACHE/apt.log" >&2; return 1; }
  cp "$r"/var/cache/apt/archives/*.deb "$dir"/ 2>/dev/null || true
  chroot "$r" apt-get clean
}

build_image() {
  local name=$1 tag parent packages dockerfile
  if ! declare -F "image_$name" >/dev/null; then
    log "unknown image '$name' (known: $IMAGES)"; return 1
  fi
  "image_$name"
  local my_tag=$tag my_parent=$parent my_packages=$packages my_dockerfile=$dockerfile
  local parent_tag
  if [ "$my_parent" = base ]; then
    build_base; parent_tag=$BASE_TAG
  else
    build_image "$my_parent"; "image_$my_parent"; parent_tag=$tag
  fi
  local want; want=$(echo "$SCRIPT_HASH $(image_id "$parent_tag")" | sha256sum | cut -c1-16)
  if [ "$(image_label "$my_tag")" = "$want" ]; then
    log "$my_tag is up to date"; return 0
  fi
  local start=$SECONDS ctx
  ctx=$(mktemp -d "$E2E_CACHE/ctx.XXXXXX")
  # Only the .debs the parent image does not have already.
  local inherited="" own
  [ "$my_parent" = base ] || inherited=$(parent_packages "$my_parent")
  download_debs "$ctx/debs" $inherited $my_packages
  if [ -n "$inherited" ]; then
    download_debs "$ctx/inherited" $inherited
    for f in "$ctx"/inherited/*.deb; do [ -e "$f" ] && rm -f "$ctx/debs/$(basename "$f")"; done
    rm -rf "$ctx/inherited"
  fi
  if declare -F "context_$name" >/dev/null; then "context_$name" "$ctx"; fi
  own=$(ls "$ctx/debs" | wc -l)
  {
    echo "FROM $parent_tag"
    if [ "$own" -gt 0 ]; then
      echo "COPY debs/ /tmp/debs/"
      echo "RUN dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs /var/log/dpkg.log /var/log/apt"
    fi
    echo "$my_dockerfile"
  } >"$ctx/Dockerfile"
  log "building $my_tag ($own .debs)"
  DOCKER_BUILDKIT=0 docker build --network none --label "$LABEL=$want" -t "$my_tag" "$ctx" >"$E2E_CACHE/build-$name.log" 2>&1 \
    || { tail -n 30 "$E2E_CACHE/build-$name.log" >&2; rm -rf "$ctx"; log "building $my_tag failed (log: $E2E_CACHE/build-$name.log)"; return 1; }
  rm -rf "$ctx"
  log "built $my_tag in $((SECONDS - start))s"
}

main() {
  case "${1:-}" in
    --list) echo "$IMAGES"; return 0 ;;
    -h|--help) sed -n '2,18p' "$SCRIPT" | sed 's/^# \{0,1\}//'; return 0 ;;
  esac
  if [ "$(id -u)" != 0 ]; then log "e2e/images/build.sh needs root (debootstrap, chroot)"; return 1; fi
  mkdir -p "$E2E_CACHE"
  "$REPO_ROOT/tools/setup/docker.sh"
  local names=("$@")
  [ ${#names[@]} -gt 0 ] || read -r -a names <<<"$IMAGES"
  for n in "${names[@]}"; do build_image "$n"; done
}

with_lock e2e-images main "$@"
