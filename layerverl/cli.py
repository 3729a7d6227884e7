"""Glue from a composed Hydra config to the work it names."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

import envs


def run(cfg: DictConfig) -> None:
    """Print the composed config and check that its environment builds and resets.

    The trainer is not written yet; until it is, this is what `python run.py ...` does.
    """
    print(OmegaConf.to_yaml(cfg, resolve=True))
    env = envs.make(cfg.env.name, **OmegaConf.to_container(cfg.env.kwargs, resolve=True))
    observation, info = env.reset(seed=cfg.seed)
    print(observation)
    print(f"admissible actions: {info['admissible_actions']}")
    print("training is not implemented yet: the trainer lands with the trainer issue")
