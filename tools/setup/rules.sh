#!/usr/bin/env bash
# Materialises the Bazel rule sets that are Go modules (rules_go, gazelle) from the
# Go module cache into $CACHE/modules, plus a patched copy of Debian's bazel_features.
# Nothing third-party is committed; tools/bazel points Bazel at these with
# --override_module. Idempotent: a stamp per version set.
source "$(dirname "$0")/common.sh"

RULES_GO=v0.65.0
GAZELLE=v0.53.0
GAZELLE_V2=v2.0.0-3
STAMP=$MODULES/.stamp
want="v2 $RULES_GO $GAZELLE $GAZELLE_V2"

# Go module zips drop file modes: restore +x on scripts.
fix_x() { find "$1" -type f -exec sh -c 'for f; do [ "$(head -c2 "$f")" = "#!" ] && chmod +x "$f"; done; true' sh {} +; }
dl() { (cd "$CACHE" && GOFLAGS=-mod=mod GOWORK=off go mod download -json "$1") | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }

prepare() {
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then return 0; fi
  log "preparing rules_go $RULES_GO and gazelle $GAZELLE from the Go module proxy"
  local d=$MODULES.tmp
  rm -rf "$d"; mkdir -p "$d"
  cp -r "$(dl github.com/bazelbuild/rules_go@$RULES_GO)" "$d/rules_go"
  cp -r "$(dl github.com/bazelbuild/bazel-gazelle@$GAZELLE)" "$d/gazelle"
  cp -r "$(dl github.com/bazel-contrib/bazel-gazelle/v2@$GAZELLE_V2)" "$d/gazelle/v2"
  chmod -R u+w "$d"
  fix_x "$d/rules_go"; fix_x "$d/gazelle"
  # The registry normally stamps versions; gazelle_binary picks v1/v2 from it.
  sed -i "0,/^    version = \"\",/s//    version = \"${GAZELLE#v}\",/" "$d/gazelle/MODULE.bazel"
  sed -i "0,/^    version = \"\",/s//    version = \"${RULES_GO#v}\",/" "$d/rules_go/MODULE.bazel"
  # The v2 tree differs from a release archive (no v2/go.sum): refresh the watched-file list.
  (cd "$d/gazelle" && env -u GOWORK GOFLAGS= go run internal/list_repository_tools_srcs.go -dir=. -generate=internal/go_repository_tools_srcs.bzl)
  # rules_go >= 0.64 asks Debian's bazel_features for one flag it predates.
  cp -r "$ROOTFS/usr/share/bazel/tools/features" "$d/bazel_features"
  chmod -R u+w "$d/bazel_features"
  sed -i 's/^\(    permits_treeartifact_uplevel_symlinks = .*\)$/\1\n    instrumented_files_info_has_baseline_coverage_files = ge("9.0.0"),/' "$d/bazel_features/features.bzl"
  grep -q instrumented_files_info_has_baseline_coverage_files "$d/bazel_features/features.bzl"
  echo "$want" >"$d/.stamp"
  rm -rf "$MODULES"; mv "$d" "$MODULES"
}
with_lock modules prepare
