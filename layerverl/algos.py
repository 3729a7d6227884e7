"""Advantage estimators over flat step samples: GiGPO, GRPO and Dr. GRPO (numpy only).

One rollout yields one *step sample* per active (env, step); the estimators read them as one
`agents.StepBatch` (its docstring lists the seven arrays, shape `(n,)` each) plus their own options,
and return per-sample `Advantages`. An option an estimator does not take is an error, not ignored.

Estimators are registered by name in `ADVANTAGE_ESTIMATORS` (a config string selects one); verl's
estimator registry gets them as `gigpo`, `layerverl_grpo` and `layerverl_drgrpo` from
`layerverl.verl_backend.estimators`, which verl loads as a plugin, so importing this module loads no
verl, Ray or torch. Semantics follow verl-agent's `core_gigpo.py`: singleton episode groups keep their
raw return, singleton step groups get 0, the invalid-action penalty is subtracted after discounting, and
episode statistics are taken over step samples (`episode_stats="steps"`, verl-agent's default) or over
trajectories (the paper's Eq. 3).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np

from agents.step_batch import StepBatch

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


def discounted_returns(
    step_reward: np.ndarray, traj_id: np.ndarray, step_idx: np.ndarray, gamma: float
) -> np.ndarray:
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
    means = np.bincount(per_traj, weights=episode_return[first], minlength=len(groups)) / np.maximum(
        counts, 1
    )
    squares = np.bincount(
        per_traj, weights=(episode_return[first] - means[per_traj]) ** 2, minlength=len(groups)
    )
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
        match = next(
            (cid for rep, cid in reps if SequenceMatcher(None, rep, text).ratio() >= threshold), None
        )
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
    steps: StepBatch,
    *,
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
    penalty = _penalty(steps.valid, invalid_penalty)
    a_episode = episode_advantages(
        steps.episode_return, steps.group_id, steps.traj_id, penalty, by_std, episode_stats
    )
    step_return = discounted_returns(steps.step_reward, steps.traj_id, steps.step_idx, gamma) - penalty
    if similarity_threshold is None:
        _, state = np.unique(np.asarray([hash(a) for a in steps.anchor], dtype=np.int64), return_inverse=True)
    else:
        state = similarity_anchors(steps.anchor, steps.group_id, similarity_threshold)
    keys = steps.group_id * (int(state.max()) + 1) + state  # (env group, state) as one integer
    a_step, sizes = group_normalize(step_return, keys, by_std, singleton_mean_zero=False)
    return Advantages(a_episode + omega * a_step, a_episode, a_step, sizes)


def grpo_advantages(
    steps: StepBatch,
    *,
    norm_by_std: bool = True,
    episode_stats: str = "steps",
    invalid_penalty: float = 0.1,
) -> Advantages:
    """GRPO: the group-normalised episode score on every step of the episode (std-normalised)."""
    _check_choice("episode_stats", episode_stats, EPISODE_STATS)
    penalty = _penalty(steps.valid, invalid_penalty)
    a_episode = episode_advantages(
        steps.episode_return, steps.group_id, steps.traj_id, penalty, norm_by_std, episode_stats
    )
    zeros = np.zeros_like(a_episode)
    return Advantages(a_episode, a_episode, zeros, np.ones(len(a_episode), dtype=np.int64))


def drgrpo_advantages(
    steps: StepBatch, *, episode_stats: str = "steps", invalid_penalty: float = 0.1
) -> Advantages:
    """Dr. GRPO: GRPO without the std division (its loss side is `seq-mean-token-sum-norm`, no KL)."""
    return grpo_advantages(
        steps, norm_by_std=False, episode_stats=episode_stats, invalid_penalty=invalid_penalty
    )


ADVANTAGE_ESTIMATORS: dict[str, Callable[..., Advantages]] = {
    "gigpo": gigpo_advantages,
    "grpo": grpo_advantages,
    "drgrpo": drgrpo_advantages,
}


def get_advantage_fn(name: str) -> Callable[..., Advantages]:
    """The estimator registered as `name`; an unknown name lists the valid ones."""
    if name not in ADVANTAGE_ESTIMATORS:
        raise ValueError(
            f"unknown advantage estimator {name!r}; choose one of {', '.join(ADVANTAGE_ESTIMATORS)}"
        )
    return ADVANTAGE_ESTIMATORS[name]


def advantage_options(name: str) -> list[str]:
    """The options the estimator `name` takes (the keys of its `configs/algo/<name>.yaml` `advantage`)."""
    parameters = inspect.signature(get_advantage_fn(name)).parameters.values()
    return [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]


def estimate_advantages(name: str, steps: StepBatch, options: Mapping[str, object]) -> Advantages:
    """The estimator `name` over `steps` with `options`; an option it does not take is named, with the valid ones."""
    valid = advantage_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(
            f"advantage estimator {name!r} takes no option {', '.join(map(repr, unknown))}; "
            f"its options: {', '.join(valid)}"
        )
    return get_advantage_fn(name)(steps, **options)


def advantage_metrics(adv: Advantages) -> dict[str, float]:
    """Mean/std of A^E and A^S and the step-group size distribution."""
    sizes = adv.step_group_size
    return {
        "train/adv_episode_mean": float(adv.episode.mean()),
        "train/adv_episode_std": float(adv.episode.std()),
        "train/adv_step_mean": float(adv.step.mean()),
        "train/adv_step_std": float(adv.step.std()),
        "train/step_group_size_mean": float(sizes.mean()),
        "train/step_group_singleton_frac": float((sizes == 1).mean()),
    }
