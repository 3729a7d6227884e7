"""layerverl: RL for LLM agents that trains only the chosen transformer layers."""

from layerverl.cli import run

__all__ = ["run"]
