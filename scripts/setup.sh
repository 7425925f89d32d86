#!/usr/bin/env bash
# Sets up .venv with the app; with --dev also PyTorch (CPU), sentence-transformers and the test tools.
# Safe to run again: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@" 2>&1 | grep -v "^WARNING: Location" || true; }
if [ "${1:-}" = "--dev" ]; then
  # The CPU build first: a bare "torch" requirement would pull gigabytes of CUDA packages.
  pip install torch==2.13.0
  pip install -e ".[embeddings,dev]"
else
  pip install -e .
fi
.venv/bin/python -c 'import knowledge, desktop.cli' || { echo "setup failed: see pip output above" >&2; exit 1; }
