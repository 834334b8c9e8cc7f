#!/usr/bin/env bash
# Prints the path of a Python 3.13 interpreter, or fails with a clear message.
# Order: $PYTHON313, python3.13 on PATH (only if it really answers: a pyenv shim does not without
# PYENV_VERSION), pyenv's installed 3.13.x, /usr/local and /usr/bin.
set -u
answers() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; }
candidates=("${PYTHON313:-}")
command -v python3.13 >/dev/null 2>&1 && candidates+=("$(command -v python3.13)")
if command -v pyenv >/dev/null 2>&1; then
  for p in "$(pyenv root)"/versions/3.13*/bin/python3.13; do candidates+=("$p"); done
fi
for p in "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do
  candidates+=("$p")
done
for c in "${candidates[@]}"; do
  if answers "$c"; then "$c" -c 'import sys; print(sys.executable)'; exit 0; fi
done
echo "error: no Python 3.13 interpreter found (tried \$PYTHON313, python3.13, pyenv versions 3.13*)." >&2
echo "       Install one (e.g. 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13." >&2
exit 1
