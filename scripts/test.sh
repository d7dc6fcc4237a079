#!/usr/bin/env bash
# Run the whole test suite the way CI does: set up, start the services the tests need
# (PostgreSQL), then pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-root
source scripts/services.sh
start_postgres || echo "warning: PostgreSQL could not be started; database tests run on SQLite only" >&2
start_browser || echo "warning: chromium could not be installed; browser tests will fail" >&2
mkdir -p ci-artifacts
.venv/bin/ruff check src tests physics benchmarks
.venv/bin/python -m pytest "$@"
