#!/usr/bin/env bash
# Build the modeller kit (bpmn-js + minimap + token simulation + Chinese labels) from node_modules with esbuild
# into webui/static/vendor/modeller-kit/ (git-ignored; served by webui/vendor.py). Skipped when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

out=webui/static/vendor/modeller-kit
sources=(webui/static/modeller-kit.js webui/static/modeller-zh.js package-lock.json scripts/assets.sh)
if [ -f "$out/modeller-kit.js" ] && [ -f "$out/modeller-kit.css" ]; then
  stale=0
  for src in "${sources[@]}"; do [ "$src" -nt "$out/modeller-kit.js" ] && stale=1; done
  [ "$stale" = 0 ] && exit 0
fi
if [ ! -x node_modules/.bin/esbuild ]; then
  echo "scripts/assets.sh: node_modules/.bin/esbuild is missing; run npm ci first" >&2
  exit 1
fi
echo "==> building the modeller kit (esbuild)"
mkdir -p "$out"
node_modules/.bin/esbuild webui/static/modeller-kit.js --bundle --minify --format=iife --target=es2019 \
  --loader:.svg=dataurl --loader:.woff=dataurl --loader:.woff2=dataurl --loader:.ttf=dataurl --loader:.eot=dataurl \
  --legal-comments=linked --log-level=warning --outfile="$out/modeller-kit.js"
