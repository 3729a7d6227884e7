"""layerverl: RL for LLM agents that trains only the chosen transformer layers."""

from __future__ import annotations

from typing import Any

__all__ = ["run"]


def __getattr__(name: str) -> Any:
    """`layerverl.run` loads the CLI glue (Hydra) on first use, so `import layerverl.<module>` stays cheap."""
    if name == "run":
        from layerverl.cli import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
