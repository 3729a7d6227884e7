"""Our estimators in verl's registry: `gigpo`, `layerverl_grpo` and `layerverl_drgrpo`.

Registration sits on verl's side of the boundary: verl imports this module as a plugin (entry point
group `verl.plugins` in pyproject.toml) whenever verl itself is imported, so a vanilla verl config can
say `algorithm.adv_estimator=gigpo`; layerverl's verl backend also imports it directly. Importing
`layerverl.algos` alone loads no verl.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

from agents.step_batch import StepBatch
from layerverl.algos import estimate_advantages
from layerverl.verl_backend.config import ESTIMATORS  # ours -> the names in verl's registry


def dense_ids(keys) -> np.ndarray:
    """0..k-1 for k distinct keys of any type (verl passes uids as strings or objects)."""
    return np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)[1]


def verl_estimator(name: str) -> Callable:
    """Adapt an estimator to verl's registry signature, token-level in and out.

    verl passes `token_level_rewards (bs, response_length)`, `response_mask` and `index` (the group uid);
    a single-turn batch is one step per trajectory. GiGPO also needs `traj_index`, `step_index`,
    `step_rewards` and `anchor_obs`, which layerverl's verl trainer passes as extra keyword arguments.
    """

    def estimator(token_level_rewards, response_mask, index, config=None, **batch):
        n = token_level_rewards.shape[0]
        if name == "gigpo" and "anchor_obs" not in batch:
            raise ValueError(
                "gigpo needs anchor_obs/traj_index/step_index/step_rewards: run it with backend=verl "
                "of layerverl, whose trainer passes them (verl's own trainer does not)"
            )
        options = dict(config.get(name) or {}) if hasattr(config, "get") else {}
        episode_return = token_level_rewards.sum(-1).detach().cpu().double().numpy()
        steps = StepBatch(
            episode_return=episode_return,
            step_reward=batch.get("step_rewards", episode_return),  # single-turn: the step is the episode
            group_id=dense_ids(index),
            traj_id=dense_ids(batch["traj_index"]) if "traj_index" in batch else np.arange(n),
            step_idx=batch.get("step_index", np.zeros(n)),
            anchor=batch.get("anchor_obs", [""] * n),
            valid=batch.get("valid", np.ones(n, dtype=bool)),
        )
        advantages = torch.as_tensor(estimate_advantages(name, steps, options).total, dtype=torch.float32)
        scores = advantages.to(token_level_rewards.device).unsqueeze(-1) * response_mask
        return scores, scores

    return estimator


def register_with_verl() -> None:
    """Make our estimators selectable by name in verl configs (idempotent)."""
    for ours, theirs in ESTIMATORS.items():
        ADV_ESTIMATOR_REGISTRY.setdefault(theirs, verl_estimator(ours))


register_with_verl()
