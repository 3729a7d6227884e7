"""Metrics of a verl run in layerverl's terms: our `train/...` rollout metrics, and verl's logged rows
turned into the history and evaluations that `layerverl.report` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from agents.evaluation import wilson_interval
from layerverl.metrics_log import MetricsLogger
from layerverl.verl_backend.advantages import step_samples


def rollout_metrics(batch_keys, extra_fields: list[dict], token_level_rewards) -> dict[str, float]:
    """Our `train/...` rollout metrics (per trajectory, as the local trainer logs them)."""
    steps = step_samples(batch_keys, extra_fields, token_level_rewards)
    _, first = np.unique(steps.traj_id, return_index=True)
    won = [float((extra_fields[i].get("reward_extra_info") or {}).get("won", 0.0)) for i in first]
    lengths = np.bincount(steps.traj_id)
    return {
        "train/success_rate": float(np.mean(won)),
        "train/episode_return": float(steps.episode_return[first].mean()),
        "train/episode_length": float(lengths.mean()),
        "train/valid_ratio": float(steps.valid.mean()),
        "train/step_samples": float(len(batch_keys)),
    }


def read_verl_metrics(
    rows: list[dict], episodes: int, split: str | None = None
) -> tuple[list[dict], dict, dict]:
    """verl's file-logger rows, oldest first -> (our per-iteration history, base eval, final eval).

    A step logged twice (a resumed run redoes the steps after its checkpoint) keeps its later row. With
    `split`, an iteration that verl validated after (other than the last, whose result is the final eval)
    also carries `eval/{split}/success`, as the local trainer's rows do."""
    by_step, validated = {}, {}
    for row in rows:
        step, data = int(row["step"]), row["data"]
        won = [v for k, v in data.items() if k.startswith("val-") and "/won/mean@" in k]
        if won:
            validated[step] = float(won[0])
        if "train/success_rate" in data:
            by_step[step] = {
                "iteration": step,
                **{k: v for k, v in data.items() if k.startswith("train/")},
                **{f"time/{k.split('/', 1)[1]}_s": v for k, v in data.items() if k.startswith("timing_s/")},
            }
    history, evaluations = [by_step[s] for s in sorted(by_step)], sorted(validated.items())
    if not evaluations:
        raise RuntimeError("verl logged no validation success (val-*/won/mean@*): did the run finish?")
    if split is not None:
        midway = dict(evaluations[1:-1])
        for row in history:
            if row["iteration"] in midway:
                row[f"eval/{split}/success"] = midway[row["iteration"]]

    def result(success: float) -> dict:
        successes = round(success * episodes)
        return {"success": success, "ci": list(wilson_interval(successes, episodes)), "episodes": episodes}

    return history, result(evaluations[0][1]), result(evaluations[-1][1])


def write_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """`metrics.jsonl` (and TensorBoard) from the per-iteration rows, with the local trainer's writer."""
    logger = MetricsLogger(out_dir, [])
    for row in history:
        logger.log(row)
    logger.close()
