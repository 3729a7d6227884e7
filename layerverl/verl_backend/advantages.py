"""GiGPO / GRPO / Dr. GRPO advantages over a verl batch of step outputs, with our estimator functions.

verl's estimator hook sees only rewards, masks and the group uid, so the verl trainer calls this
instead. Each row is one env step stored under the key `{uid}_{session}_{i}`: the uid is the env group,
`{uid}_{session}` the trajectory, and the row's `extra_fields` hold the anchor, step index, step reward
and validity written by the agent loop. All three algorithms use our functions on step samples, so
`backend=verl` and `backend=local` compute identical advantages (verl's built-in v1 GRPO would use only
each trajectory's last step for its statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from verl.protocol import DataProto

from agents.step_batch import StepBatch
from layerverl.algos import Advantages, estimate_advantages


def step_samples(
    batch_keys: Sequence[str], extra_fields: Sequence[dict[str, Any]], token_level_rewards: torch.Tensor
) -> StepBatch:
    """The step samples of a verl batch (bs rows), as the local rollout's `Rollout.step_batch()` gives them."""
    groups, trajectories = [], []
    for key in batch_keys:
        uid, session, _ = key.rsplit("_", 2)
        groups.append(uid)
        trajectories.append(f"{uid}_{session}")
    return StepBatch(
        episode_return=token_level_rewards.sum(-1).detach().cpu().double().numpy(),
        step_reward=[float(e["step_reward"]) for e in extra_fields],
        group_id=np.unique(np.array(groups), return_inverse=True)[1],
        traj_id=np.unique(np.array(trajectories), return_inverse=True)[1],
        step_idx=[int(e["step_idx"]) for e in extra_fields],
        anchor=[e["anchor"] for e in extra_fields],
        valid=[bool(e["valid"]) for e in extra_fields],
    )


def apply_step_advantages(
    data: DataProto,
    batch_keys: Sequence[str],
    options: dict[str, Any],
    padding: Sequence[bool] | None = None,
) -> Advantages:
    """Set `advantages` and `returns` (bs, response_length) of `data` with the estimator `options["name"]`
    (its other keys are the estimator's options); returns the per-sample parts of the real rows, for logging.

    `padding` marks the synthetic rows verl appends so the batch divides into mini-batches
    (`verl.trainer.ppo.padding_utils.upsample_batch_to_divisible_size`: copies of the first row's fields,
    rewards and response mask zeroed, tagged `is_padding`). They are left out of the statistics and get
    advantage 0, so the real rows' advantages are exactly those of the unpadded batch."""
    options = dict(options)
    name = options.pop("name")
    extra_fields = list(data.non_tensor_batch["extra_fields"])
    real = np.arange(len(batch_keys)) if padding is None else np.flatnonzero(~np.asarray(padding, dtype=bool))
    index = torch.as_tensor(real, dtype=torch.long)
    rewards = data.batch["token_level_rewards"]
    adv = estimate_advantages(
        name,
        step_samples(
            [batch_keys[i] for i in real], [extra_fields[i] for i in real], rewards[index.to(rewards.device)]
        ),
        options,
    )
    total = torch.zeros(len(batch_keys), dtype=torch.float32)
    total[index] = torch.as_tensor(adv.total, dtype=torch.float32)
    mask = data.batch["response_mask"]
    scores = total.to(mask.device).unsqueeze(-1) * mask
    data.batch["advantages"] = scores
    data.batch["returns"] = scores
    return adv
