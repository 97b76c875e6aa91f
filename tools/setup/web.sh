#!/usr/bin/env bash
# Builds the web pages' JavaScript bundles from npm packages (pinned by each page's
# package-lock.json, installed into its node_modules/, never committed). Bundles are
# build output, not source: they are ignored by git and made here, before Bazel or
# gazelle look at the tree, so `go:embed` finds them. Cheap when nothing changed.
source "$(dirname "$0")/common.sh"

build() {
  local dir out
  for script in "$REPO_ROOT"/web/*/build.sh; do
    [ -x "$script" ] || continue
    dir=$(dirname "$script")
    out=$dir/static/app.js
    # Rebuild only when a source, the lock file or the script is newer than the bundle.
    if [ -f "$out" ] && [ -z "$(find "$dir/src" "$dir/package-lock.json" "$script" -newer "$out" -print -quit 2>/dev/null)" ]; then
      continue
    fi
    command -v npm >/dev/null || { log "npm is needed to build $out (apt-get install npm)"; return 1; }
    log "building ${out#$REPO_ROOT/}"
    "$script" >&2
  done
}
with_lock web build
