#!/usr/bin/env bash
# Creates .venv with Python 3.13 and installs the requirements. Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY313=$(scripts/python313.sh)
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
  rm -rf .venv
  "$PY313" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
reqs=(-r requirements.txt)
[ "${1:-}" = "--dev" ] && reqs+=(-r requirements-dev.txt)
.venv/bin/python -m pip install -q --disable-pip-version-check "${reqs[@]}"
