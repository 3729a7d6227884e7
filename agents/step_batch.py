"""`StepBatch`: the flat step samples that every advantage estimator reads (numpy only, no torch).

The local rollout builds one with `Rollout.step_batch()`, the verl backend from a verl batch
(`layerverl.verl_backend.advantages.step_samples`); `layerverl.algos` consumes it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class StepBatch:
    """One entry per step sample (an active env at one turn), shape (n,) each; arrays are coerced on entry.

    episode_return  float  the trajectory's total reward, repeated on each of its steps
    step_reward     float  the env reward of this step
    group_id        int    env group (the N envs of a group share their initial state)
    traj_id         int    trajectory (one env's episode); unique across the batch
    step_idx        int    step index within the trajectory, 0-based
    anchor          hashable  the raw current observation (or its hash): GiGPO's state identity
    valid           bool   the response had a well-formed action
    """

    episode_return: np.ndarray
    step_reward: np.ndarray
    group_id: np.ndarray
    traj_id: np.ndarray
    step_idx: np.ndarray
    anchor: Sequence[Hashable]
    valid: np.ndarray

    def __post_init__(self) -> None:
        self.episode_return = np.asarray(self.episode_return, dtype=np.float64)
        self.step_reward = np.asarray(self.step_reward, dtype=np.float64)
        self.group_id = np.asarray(self.group_id, dtype=np.int64)
        self.traj_id = np.asarray(self.traj_id, dtype=np.int64)
        self.step_idx = np.asarray(self.step_idx, dtype=np.int64)
        self.anchor = list(self.anchor)
        self.valid = np.asarray(self.valid, dtype=bool)
        lengths = {name: len(getattr(self, name)) for name in self.__dataclass_fields__}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"StepBatch arrays must have one entry per step sample; got lengths {lengths}")

    def __len__(self) -> int:
        return len(self.anchor)
