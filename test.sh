#!/usr/bin/env bash
# Installs everything (Python 3.13 venv + requirements + dev tools) and runs the whole test suite:
# lint, engine/data/AppTest layers, then the browser layer (Playwright + Debian Chromium).
# pytest's "no tests ran" (exit 5) counts as a failure.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh --dev
.venv/bin/ruff check .
run() {
  local rc=0
  .venv/bin/python -m pytest "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then echo "error: pytest collected no tests for: $*" >&2; exit 1; fi
  [ "$rc" -eq 0 ] || exit "$rc"
}
run -q -m "not e2e"
run -q -m e2e
