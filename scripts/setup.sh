#!/usr/bin/env bash
# Set up everything Hyperloop needs on a fresh Debian machine with Python 3.11:
# a virtual environment in .venv with hyperloop, the physics package and the test tools.
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh [--with-root]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.hyperloop-setup
want="$(cat pyproject.toml physics/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  if [ -d physics ]; then
    .venv/bin/python -m pip install --quiet --no-deps -e physics/
  fi
  echo "$want" > "$stamp"
fi
if [ "${1:-}" = "--with-root" ] && ! .venv/bin/python -c "import ROOT" >/dev/null 2>&1; then
  # CERN ROOT (PyPI `root`, ~250 MB) is only used to cross-check our files in tests
  .venv/bin/python -m pip install --quiet root
fi
