"""Advantage estimators over flat step samples: GiGPO, GRPO and Dr. GRPO.

One rollout yields one *step sample* per active (env, step). Every array below has one entry per step
sample, shape `(n,)`:

    group_id        int    env group (the N envs of a group share their initial state)
    traj_id         int    trajectory (one env's episode); unique across the batch
    step_idx        int    step index within the trajectory, 0-based
    episode_return  float  the trajectory's total reward, repeated on each of its steps
    step_reward     float  the env reward of this step
    anchor          hashable  the raw current observation (or its hash): GiGPO's state identity
    valid           bool   the response had a well-formed action

Estimators are registered by name in `ADVANTAGE_ESTIMATORS` (a config string selects one) and in verl's
estimator registry as `gigpo`, `layerverl_grpo` and `layerverl_drgrpo`. Semantics follow verl-agent's
`core_gigpo.py`: singleton episode groups keep their raw return, singleton step groups get 0, the
invalid-action penalty is subtracted after discounting, and episode statistics are taken over step
samples (`episode_stats="steps"`, verl-agent's default) or over trajectories (the paper's Eq. 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

EPSILON = 1e-6
EPISODE_STATS = ("steps", "trajectories")
MODES = ("mean_norm", "mean_std_norm")


@dataclass
class Advantages:
    """Per-sample advantages, shape (n,), with their parts for logging."""

    total: np.ndarray
    episode: np.ndarray
    step: np.ndarray  # zeros for estimators without a step level
    step_group_size: np.ndarray  # size of each sample's anchor-state group (1 without a step level)


def discounted_returns(step_reward: np.ndarray, traj_id: np.ndarray, step_idx: np.ndarray, gamma: float) -> np.ndarray:
    """R_t = sum_{k>=t} gamma^(k-t) r_k within each trajectory (GiGPO Eq. 5), shape (n,)."""
    trajectories, row = np.unique(traj_id, return_inverse=True)
    rewards = np.zeros((len(trajectories), int(step_idx.max()) + 2))
    rewards[row, step_idx] = step_reward
    returns = np.zeros_like(rewards)
    for t in range(rewards.shape[1] - 2, -1, -1):  # backward over steps, vectorised over trajectories
        returns[:, t] = rewards[:, t] + gamma * returns[:, t + 1]
    return returns[row, step_idx]


def group_normalize(values: np.ndarray, keys: np.ndarray, by_std: bool, singleton_mean_zero: bool) -> tuple:
    """(values - group mean) [/ (unbiased group std + eps)], and each sample's group size.

    A singleton group has mean 0 and std 1 when `singleton_mean_zero` (its advantage is the raw value),
    else mean = its own value (advantage 0).
    """
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=values)
    means = sums / counts
    squares = np.bincount(inverse, weights=(values - means[inverse]) ** 2)
    stds = np.sqrt(squares / np.maximum(counts - 1, 1))
    singleton = counts == 1
    if singleton_mean_zero:
        means[singleton] = 0.0
    stds[singleton] = 1.0
    centered = values - means[inverse]
    return (centered / (stds[inverse] + EPSILON) if by_std else centered), counts[inverse]


def episode_advantages(
    episode_return: np.ndarray,
    group_id: np.ndarray,
    traj_id: np.ndarray,
    penalty: np.ndarray,
    by_std: bool,
    episode_stats: str,
) -> np.ndarray:
    """A^E: each sample's (penalised) episode score normalised within its env group (Eq. 3)."""
    score = episode_return - penalty
    if episode_stats == "steps":
        return group_normalize(score, group_id, by_std, singleton_mean_zero=True)[0]
    # one entry per trajectory: the group statistics come from unpenalised episode returns
    _, first = np.unique(traj_id, return_index=True)
    groups, inverse = np.unique(group_id, return_inverse=True)
    per_traj = inverse[first]
    counts = np.bincount(per_traj, minlength=len(groups))
    means = np.bincount(per_traj, weights=episode_return[first], minlength=len(groups)) / np.maximum(counts, 1)
    squares = np.bincount(per_traj, weights=(episode_return[first] - means[per_traj]) ** 2, minlength=len(groups))
    stds = np.sqrt(squares / np.maximum(counts - 1, 1))
    means[counts == 1], stds[counts == 1] = 0.0, 1.0
    centered = score - means[inverse]
    return centered / (stds[inverse] + EPSILON) if by_std else centered


def similarity_anchors(anchor: Sequence[str], group_id: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy clustering of anchor texts within each env group: a text joins the first cluster whose
    representative it matches with `SequenceMatcher` ratio >= threshold (GiGPO's similarity variant)."""
    cluster = np.zeros(len(anchor), dtype=np.int64)
    representatives: dict[int, list[tuple[str, int]]] = {}
    next_id = 0
    for i, (text, group) in enumerate(zip(anchor, group_id.tolist(), strict=True)):
        reps = representatives.setdefault(group, [])
        match = next((cid for rep, cid in reps if SequenceMatcher(None, rep, text).ratio() >= threshold), None)
        if match is None:
            match, next_id = next_id, next_id + 1
            reps.append((text, match))
        cluster[i] = match
    return cluster


def _penalty(valid: np.ndarray, invalid_penalty: float) -> np.ndarray:
    return invalid_penalty * (~valid.astype(bool))


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def gigpo_advantages(
    *,
    episode_return: np.ndarray,
    step_reward: np.ndarray,
    group_id: np.ndarray,
    traj_id: np.ndarray,
    step_idx: np.ndarray,
    anchor: Sequence,
    valid: np.ndarray,
    gamma: float = 0.95,
    omega: float = 1.0,
    mode: str = "mean_norm",
    episode_stats: str = "steps",
    invalid_penalty: float = 0.1,
    similarity_threshold: float | None = None,
) -> Advantages:
    """GiGPO: A = A^E + omega * A^S, where A^S normalises discounted step returns within anchor-state
    groups (same observation in the same env group). `mode="mean_std_norm"` divides both by std."""
    _check_choice("mode", mode, MODES)
    _check_choice("episode_stats", episode_stats, EPISODE_STATS)
    by_std = mode == "mean_std_norm"
    penalty = _penalty(valid, invalid_penalty)
    a_episode = episode_advantages(episode_return, group_id, traj_id, penalty, by_std, episode_stats)
    step_return = discounted_returns(step_reward, traj_id, step_idx, gamma) - penalty
    if similarity_threshold is None:
        _, state = np.unique(np.asarray([hash(a) for a in anchor], dtype=np.int64), return_inverse=True)
    else:
        state = similarity_anchors(anchor, group_id, similarity_threshold)
    keys = group_id.astype(np.int64) * (int(state.max()) + 1) + state  # (env group, state) as one integer
    a_step, sizes = group_normalize(step_return, keys, by_std, singleton_mean_zero=False)
    return Advantages(a_episode + omega * a_step, a_episode, a_step, sizes)


def grpo_advantages(
    *,
    episode_return: np.ndarray,
    group_id: np.ndarray,
    traj_id: np.ndarray,
    valid: np.ndarray,
    norm_by_std: bool = True,
    episode_stats: str = "steps",
    invalid_penalty: float = 0.1,
    **_: object,
) -> Advantages:
    """GRPO: the group-normalised episode score on every step of the episode (std-normalised)."""
    _check_choice("episode_stats", episode_stats, EPISODE_STATS)
    penalty = _penalty(valid, invalid_penalty)
    a_episode = episode_advantages(episode_return, group_id, traj_id, penalty, norm_by_std, episode_stats)
    zeros = np.zeros_like(a_episode)
    return Advantages(a_episode, a_episode, zeros, np.ones(len(a_episode), dtype=np.int64))


def drgrpo_advantages(**kwargs: object) -> Advantages:
    """Dr. GRPO: GRPO without the std division (its loss side is `seq-mean-token-sum-norm`, no KL)."""
    kwargs.pop("norm_by_std", None)
    return grpo_advantages(norm_by_std=False, **kwargs)


ADVANTAGE_ESTIMATORS: dict[str, Callable[..., Advantages]] = {
    "gigpo": gigpo_advantages,
    "grpo": grpo_advantages,
    "drgrpo": drgrpo_advantages,
}


def get_advantage_fn(name: str) -> Callable[..., Advantages]:
    """The estimator registered as `name`; an unknown name lists the valid ones."""
    if name not in ADVANTAGE_ESTIMATORS:
        raise ValueError(f"unknown advantage estimator {name!r}; choose one of {', '.join(ADVANTAGE_ESTIMATORS)}")
    return ADVANTAGE_ESTIMATORS[name]


def _verl_estimator(name: str) -> Callable:
    """Adapt an estimator to verl's registry signature, token-level in and out.

    verl passes `token_level_rewards (bs, response_length)`, `response_mask` and `index` (the group uid);
    a single-turn batch is one step per trajectory. GiGPO also needs `traj_index`, `step_index`,
    `step_rewards` and `anchor_obs`, which layerverl's verl trainer passes as extra keyword arguments.
    """
    import torch

    def estimator(token_level_rewards, response_mask, index, config=None, **batch):
        n = token_level_rewards.shape[0]
        if name == "gigpo" and "anchor_obs" not in batch:
            raise ValueError("gigpo needs anchor_obs/traj_index/step_index/step_rewards: run it with backend=verl "
                             "of layerverl, whose trainer passes them (verl's own trainer does not)")
        options = dict(config.get(name) or {}) if hasattr(config, "get") else {}
        _, group_id = np.unique(np.asarray(index, dtype=object).astype(str), return_inverse=True)
        samples = {
            "episode_return": token_level_rewards.sum(-1).detach().cpu().double().numpy(),
            "group_id": group_id,
            "traj_id": np.asarray(batch.get("traj_index", np.arange(n))),
            "valid": np.asarray(batch.get("valid", np.ones(n, dtype=bool))),
        }
        if name == "gigpo":
            samples.update(
                step_reward=np.asarray(batch["step_rewards"], dtype=np.float64),
                step_idx=np.asarray(batch["step_index"]),
                anchor=list(batch["anchor_obs"]),
            )
        advantages = torch.as_tensor(get_advantage_fn(name)(**samples, **options).total, dtype=torch.float32)
        scores = advantages.to(token_level_rewards.device).unsqueeze(-1) * response_mask
        return scores, scores

    return estimator


def _register_with_verl() -> None:
    """Make `gigpo`, `layerverl_grpo` and `layerverl_drgrpo` selectable by name in verl configs."""
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

    for ours, theirs in (("gigpo", "gigpo"), ("grpo", "layerverl_grpo"), ("drgrpo", "layerverl_drgrpo")):
        ADV_ESTIMATOR_REGISTRY.setdefault(theirs, _verl_estimator(ours))


_register_with_verl()
