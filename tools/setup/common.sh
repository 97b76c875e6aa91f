# Shared settings for the project's setup scripts. Sourced, not run.
# Everything Hindsight installs lives under one cache directory so a fresh clone
# (and CI) on the same machine reuses it; override with HINDSIGHT_CACHE.
set -euo pipefail
CACHE=${HINDSIGHT_CACHE:-$HOME/.cache/hindsight}
ROOTFS=$CACHE/rootfs          # Debian sid root fs holding Bazel 7 (bazel-bootstrap)
OUTPUT_USER_ROOT=$CACHE/bazel # Bazel output bases, same path inside and outside
MODULES=$CACHE/modules        # rules_go, gazelle (from the Go module proxy)
NS_PID=$CACHE/ns.pid          # holder process of the mount namespace
MIRROR=${HINDSIGHT_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$CACHE"

log() { printf '[hindsight] %s\n' "$*" >&2; }

# with_lock NAME CMD...: serialise setup steps between concurrent callers.
with_lock() {
  local name=$1; shift
  exec {lockfd}>"$CACHE/$name.lock"
  flock "$lockfd"
  "$@"
  local rc=$?
  flock -u "$lockfd"
  return $rc
}
