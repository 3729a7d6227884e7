"""Glue from a composed Hydra config to the work it names."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

BACKENDS = ("local", "verl")


def run(cfg: DictConfig) -> dict:
    """Train as the config says, in the Hydra output directory; returns the run's summary."""
    if cfg.backend.name not in BACKENDS:
        raise ValueError(f"backend.name must be one of {', '.join(BACKENDS)}; got {cfg.backend.name!r}")
    from layerverl.config import untrained_env_warning

    if warning := untrained_env_warning(cfg):  # before minutes of work that would teach nothing
        print(warning, file=sys.stderr)
    out_dir = Path(HydraConfig.get().runtime.output_dir) if HydraConfig.initialized() else Path("outputs/run")
    if cfg.backend.name == "verl":
        from layerverl.verl_backend import MissingRequirementError, check_requirements

        try:  # before any work: GPUs (unless backend.device=cpu), vLLM, verl's core extras
            check_requirements(cfg.backend.n_gpus_per_node, cfg.backend.get("device", "cuda"))
        except MissingRequirementError as error:
            raise SystemExit(str(error)) from None
        from layerverl.verl_backend.trainer import run_verl

        return run_verl(cfg, out_dir)
    from layerverl.trainer import train

    return train(cfg, out_dir)
