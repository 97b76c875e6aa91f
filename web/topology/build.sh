#!/usr/bin/env bash
# Builds the topology page's bundle (static/app.js: src/app.js with Vizceral and its
# dependencies, minified) from the npm packages pinned by package-lock.json, installed
# into node_modules/ (never committed). The bundle is build output, ignored by git:
# tools/bazel runs this (through tools/setup/web.sh) whenever src/ or the lock file is
# newer than the bundle; plain `go build` embeds whatever static/ holds.
# Idempotent: npm ci runs only when the lock file changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ ! -f package-lock.json ]; then
  npm install --no-audit --no-fund >/dev/null
fi
stamp=node_modules/.lock-sha256
if [ "$(cat "$stamp" 2>/dev/null)" != "$(sha256sum package-lock.json | cut -d' ' -f1)" ]; then
  npm ci --no-audit --no-fund >/dev/null
  sha256sum package-lock.json | cut -d' ' -f1 >"$stamp"
fi
node_modules/.bin/esbuild src/app.js --bundle --minify --format=iife --target=es2018 \
  --legal-comments=none --log-level=warning --outfile=static/app.js
echo "built web/topology/static/app.js ($(wc -c <static/app.js) bytes)"
