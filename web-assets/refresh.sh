#!/usr/bin/env bash
# Refresh the vendored browser assets from the pinned versions in package.json.
# Runs `npm install` here and copies the distribution files into
# src/hyperloop/web/static/vendor/ (committed: `pip install` never needs Node).
# Afterwards update VENDORED.md if a version changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../src/hyperloop/web/static/vendor"
cd "$here"
npm install --no-audit --no-fund --ignore-scripts --no-save
nm="$here/node_modules"
rm -rf "$vendor"
mkdir -p "$vendor"/{htmx,uplot,jsroot,speedscope}

# htmx: one minified script.
cp "$nm/htmx.org/dist/htmx.min.js" "$nm/htmx.org/LICENSE" "$vendor/htmx/"

# uPlot: the browser build (IIFE, global `uPlot`) and its stylesheet.
cp "$nm/uplot/dist/uPlot.iife.min.js" "$nm/uplot/dist/uPlot.min.css" "$nm/uplot/LICENSE" \
  "$vendor/uplot/"

# JSROOT: the ES modules (openFile + draw load painters and decompressors on demand).
cp -r "$nm/jsroot/modules" "$vendor/jsroot/"
cp "$nm/jsroot/LICENSE" "$vendor/jsroot/"

# speedscope: its built static viewer (index.html + hashed assets).
cp -r "$nm/speedscope/dist/release/." "$vendor/speedscope/"
cp "$nm/speedscope/LICENSE" "$vendor/speedscope/"

for pkg in htmx.org uplot jsroot speedscope; do
  printf '%s %s\n' "$pkg" "$(node -p "require('$nm/$pkg/package.json').version")"
done
