"""Success rate (with a Wilson interval), score and per-task-type breakdown of a policy on an env split.

Models and the expert/random baselines share this path: each episode is one group of one env, reset
with seeds `seed_offset + 0 .. episodes - 1`, run through `collect_rollout`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from agents.prompts import PromptTemplate
from agents.rollout import Trajectory, collect_rollout
from envs.batch import EnvBatch


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); (0, 1) when there are no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    center = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, center - half), min(1.0, center + half)


def mcnemar_exact(only_after: int, only_before: int) -> float:
    """Two-sided exact McNemar p-value: how likely so lopsided a split of the changed episodes is when
    training changed nothing (each change equally likely either way)."""
    changed = only_after + only_before
    tail = sum(math.comb(changed, i) for i in range(min(only_after, only_before) + 1)) / 2**changed
    return min(1.0, 2 * tail)


@dataclass
class EvalResult:
    """Success rate, its 95% Wilson CI, mean score (None if the env has none), per-task-type results and
    per-episode outcomes (kept out of `to_dict`, written to episodes.jsonl by the trainer)."""

    success: float
    ci: tuple[float, float]
    episodes: int
    score: float | None = None
    per_task_type: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)  # one per episode: episode (seed), won, ...

    def to_dict(self) -> dict[str, Any]:
        result = {"success": self.success, "ci": list(self.ci), "episodes": self.episodes}
        if self.score is not None:
            result["score"] = self.score
        if self.per_task_type:
            result["per_task_type"] = self.per_task_type
        return result


def paired_change(before: EvalResult, after: EvalResult) -> dict[str, Any]:
    """Episodes (same seeds, so the same tasks) solved only after and only before, with the exact McNemar
    p-value: pairing each task with itself is far more sensitive than comparing two intervals. Where every
    episode has a score, also the mean score change and the tasks whose score rose or fell, with the exact
    sign test (McNemar's test on those counts)."""
    by_seed = {outcome["episode"]: outcome for outcome in before.outcomes}
    pairs = [(by_seed[o["episode"]], o) for o in after.outcomes if o["episode"] in by_seed]
    only_after = sum(now["won"] and not then["won"] for then, now in pairs)
    only_before = sum(then["won"] and not now["won"] for then, now in pairs)
    change = {
        "episodes": len(pairs),
        "only_after": only_after,
        "only_before": only_before,
        "p": mcnemar_exact(only_after, only_before),
    }
    deltas = [
        now["score"] - then["score"]
        for then, now in pairs
        if None not in (then.get("score"), now.get("score"))
    ]
    if pairs and len(deltas) == len(pairs):
        rose, fell = sum(d > 0 for d in deltas), sum(d < 0 for d in deltas)
        change |= {
            "score_change": sum(deltas) / len(deltas),
            "score_rose": rose,
            "score_fell": fell,
            "score_p": mcnemar_exact(rose, fell),
        }
    return change


def outcome(t: Trajectory) -> dict[str, Any]:
    """One episodes.jsonl record: seed, won, task type, score, and what the policy last said (its extracted
    answer where the task has one), so a run's gain can be read, not only counted."""
    record = {"episode": t.seed, "won": t.won, "task_type": t.task_type, "score": t.score}
    record |= {key: value for key in ("answer", "response") if (value := getattr(t, key)) is not None}
    return record


def summarize(trajectories: list[Trajectory]) -> EvalResult:
    """EvalResult over finished trajectories."""
    wins = sum(t.won for t in trajectories)
    scores = [t.score for t in trajectories if t.score is not None]
    by_type: dict[str, list[Trajectory]] = defaultdict(list)
    for t in trajectories:
        if t.task_type is not None:
            by_type[str(t.task_type)].append(t)
    per_type = {}
    for task_type, group in sorted(by_type.items()):
        type_wins = sum(t.won for t in group)
        per_type[task_type] = {
            "success": type_wins / len(group),
            "ci": list(wilson_interval(type_wins, len(group))),
            "episodes": len(group),
        }
    return EvalResult(
        success=wins / max(len(trajectories), 1),
        ci=wilson_interval(wins, len(trajectories)),
        episodes=len(trajectories),
        score=sum(scores) / len(scores) if scores else None,
        per_task_type=per_type,
        outcomes=[outcome(t) for t in trajectories],
    )


def evaluate(
    policy: Any,
    env_name: str,
    template: PromptTemplate,
    episodes: int,
    env_kwargs: dict[str, Any] | None = None,
    max_steps: int = 50,
    seed_offset: int = 0,
    batch_size: int = 64,
) -> EvalResult:
    """Run `episodes` episodes of `envs.make(env_name, **env_kwargs)` in batches and summarize them."""
    trajectories: list[Trajectory] = []
    for start in range(0, episodes, batch_size):
        seeds = list(range(seed_offset + start, seed_offset + min(start + batch_size, episodes)))
        with EnvBatch(env_name, len(seeds), **(env_kwargs or {})) as envs:
            trajectories += collect_rollout(envs, policy, template, seeds, 1, max_steps).trajectories
    return summarize(trajectories)
