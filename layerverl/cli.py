"""Glue from a composed Hydra config to the work it names."""

from __future__ import annotations

from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

BACKENDS = ("local",)


def run(cfg: DictConfig) -> dict:
    """Train as the config says, in the Hydra output directory; returns the run's summary."""
    if cfg.backend.name not in BACKENDS:
        raise ValueError(f"backend.name must be one of {', '.join(BACKENDS)}; got {cfg.backend.name!r}")
    from layerverl.trainer import train

    out_dir = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path("outputs/run")
    return train(cfg, out_dir)
