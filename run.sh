#!/usr/bin/env bash
# Installs everything (Python 3.13 venv + requirements) and starts the app on the embedded defaults:
# simulated GlobeCo services with demo data in-process, and an embedded MongoDB stand-in (var/).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"
