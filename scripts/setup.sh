#!/usr/bin/env bash
# Fresh-machine setup: a venv in .venv with the CPU torch wheel first, then the project with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install -q "torch==2.13.0"          # CPU wheel; installing it first keeps pip off the CUDA builds
pip install -q -e ".[test,alfworld]"
