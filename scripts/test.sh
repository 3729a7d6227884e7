#!/usr/bin/env bash
# The default test set (fast tests; slow ones are marked). pytest exit 5 (no tests collected) counts as failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
python -m pytest -q -m "not slow" "$@"
