"""What every benchmark script shares: installed package versions and the `--json` results file."""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any


def package_version(name: str) -> str:
    """The installed version of distribution `name`, or "not installed"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def write_json(path: Path | None, results: dict[str, Any]) -> None:
    """Write a benchmark's results where its `--json` option says (nothing when it was not given)."""
    if path:
        path.write_text(json.dumps(results, indent=1))
