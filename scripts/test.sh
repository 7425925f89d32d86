#!/usr/bin/env bash
# Sets up the development environment and runs the whole test suite with the linters.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
