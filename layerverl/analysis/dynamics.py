"""How each run's training ended, from its metrics.jsonl: whether learning was still going or had stalled.

GRPO learns only from groups whose outcomes differ. A run whose groups all came out alike (every sample
right, or every sample wrong in the same way, e.g. a boxed wrong number earning the same format score)
keeps no sample for the update (`train/update_samples` 0) and so stays where it is: it has stalled, however
many iterations are left. Runs that stall early explain much of the spread between seeds of one setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TAIL = 5  # iterations at the end of a run that say how it ended
STALLED_BELOW = 0.1  # a run whose last iterations updated on less than this share of their samples


def training_tail(run_dir: Path, tail: int = TAIL) -> dict[str, Any] | None:
    """Mean training return, success and share of samples updated over the last `tail` iterations, the
    iteration from which every later one updated on less than `STALLED_BELOW` of its samples, and whether the
    tail is stalled (`stalled_from` is None when it is not); None without metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "train/update_samples" in r and r.get("train/step_samples")]
    if not rows:
        return None
    updated = [r["train/update_samples"] / r["train/step_samples"] for r in rows]
    stalled_from = None
    for row, share in zip(reversed(rows), reversed(updated), strict=True):
        if share >= STALLED_BELOW:
            break
        stalled_from = int(row["iteration"])
    last = rows[-tail:]
    updated_tail = sum(updated[-tail:]) / len(last)
    stalled = updated_tail < STALLED_BELOW
    return {
        "iterations": len(rows),
        "return_tail": sum(r.get("train/episode_return", 0.0) for r in last) / len(last),
        "success_tail": sum(r.get("train/success_rate", 0.0) for r in last) / len(last),
        "updated_tail": updated_tail,
        "stalled_from": stalled_from if stalled else None,
        "stalled": stalled,
    }


def dynamics_rows(sweep, split: str) -> list[dict[str, Any]]:
    """One row per trained run of a sweep: setting, layer, seed, success after on `split`, its training tail."""
    rows = []
    for run in sweep.runs:
        tail = None if run.setting == "base" else training_tail(run.path)
        if tail is None:
            continue
        success = run.result("final", split)["success"]
        rows.append({"setting": run.setting, "layer": run.layer, "seed": run.seed, "S": success, **tail})
    return sorted(rows, key=lambda r: (r["setting"], r["layer"] if r["layer"] is not None else -1, r["seed"]))


def dynamics_line(rows: list[dict[str, Any]]) -> str:
    """One summary line: how many runs stalled, and the success of stalled against still-learning runs."""
    stalled = [r for r in rows if r["stalled"]]
    going = [r for r in rows if not r["stalled"]]

    def mean(values: list[float]) -> str:
        return f"{100 * sum(values) / len(values):.1f}%" if values else "-"

    names = ", ".join(
        f"{r['setting'] if r['layer'] is None else 'L' + str(r['layer'])} s{r['seed']}" for r in stalled
    )
    return (
        f"stalled (< {STALLED_BELOW:.0%} of samples updated over the last {TAIL} iterations): "
        f"{len(stalled)} of {len(rows)} runs [{names}]; mean test success stalled {mean([r['S'] for r in stalled])}"
        f", still learning {mean([r['S'] for r in going])}"
    )
