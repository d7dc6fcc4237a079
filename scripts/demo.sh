#!/usr/bin/env bash
# One command for a newcomer: set up, then start the complete system with demo content —
# web server, scheduler, a local Dask cluster, SQLite, demo data (PYTHIA 8, generated once),
# two package tags, demo accounts for each role (printed with the URL), analyses, wagons,
# datasets, runlists and mergelists. Everything lives in var/ (HYPERLOOP_DATA_DIR).
# Stop with Ctrl-C; the next start reuses what is there (same accounts; their passwords are
# printed only the first time: `.venv/bin/hyperloop user password NAME --generate` sets a new one).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
HL=.venv/bin/hyperloop
export HYPERLOOP_DATA_DIR=${HYPERLOOP_DATA_DIR:-var}
mkdir -p "$HYPERLOOP_DATA_DIR"
if [ ! -f "$HYPERLOOP_DATA_DIR/documentation/index.html" ]; then
  echo "== building the documentation (served under /documentation)"
  $HL docs build || echo "warning: the documentation could not be built; /documentation will say how" >&2
fi
echo "== starting Hyperloop with demo content (first start: a few minutes to make demo data)"
exec $HL serve --demo "$@"
