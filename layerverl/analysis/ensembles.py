"""Ensembles of layer-trained policies: majority vote over their episodes and the overlap of what they solve.

Needs per-episode outcomes (`episodes.jsonl`) on a shared task list: episodes are matched by index.
A vote takes the most common `answer` when every model recorded one (single-turn tasks; ties go to the
earliest model), else counts an episode solved when more than half of the models solved it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import numpy as np

from layerverl.analysis.contribution import ContributionResult
from layerverl.analysis.runs import Sweep


def jaccard(a: set[int], b: set[int]) -> float:
    """|a & b| / |a | b|; NaN when both are empty."""
    union = a | b
    return len(a & b) / len(union) if union else float("nan")


def majority_vote(models: list[dict[int, dict[str, Any]]]) -> dict[int, bool]:
    """Per shared episode index, whether the ensemble's vote solves it."""
    shared = sorted(set.intersection(*(set(m) for m in models)))
    votes = {}
    for episode in shared:
        records = [m[episode] for m in models]
        if all(r.get("answer") is not None for r in records):
            answer = Counter(str(r["answer"]) for r in records).most_common(1)[0][0]
            votes[episode] = any(bool(r["won"]) for r in records if str(r["answer"]) == answer)
        else:
            votes[episode] = sum(bool(r["won"]) for r in records) * 2 > len(records)
    return votes


def ensemble_report(
    sweep: Sweep, result: ContributionResult, k: int = 3, seed: int | None = None
) -> dict[str, Any]:
    """Majority vote of the top-k layers by C (one run each, lowest seed unless `seed`), against the best of
    them alone, full RL and the union of their solved sets, with pairwise Jaccard overlaps of solved sets."""
    top = sorted(result.layer_rows, key=lambda r: r.contribution, reverse=True)[:k]
    runs = []
    for row in top:
        candidates = [r for r in sweep.select("layer", row.layer) if seed is None or r.seed == seed]
        if candidates and candidates[0].episodes is not None:
            runs.append(candidates[0])
    full = [r for r in sweep.select("full") if r.episodes is not None]
    if len(runs) < 2 or not full:
        raise ValueError("an ensemble needs episodes.jsonl in at least 2 single-layer runs and a full run")
    models = [r.episode_records("final", result.split) for r in runs]
    votes = majority_vote(models)
    solved = {
        r.layer: {e for e, rec in m.items() if rec["won"] and e in votes}
        for r, m in zip(runs, models, strict=True)
    }
    pairs = {f"L{a}-L{b}": jaccard(solved[a], solved[b]) for a, b in itertools.combinations(solved, 2)}
    full_records = full[0].episode_records("final", result.split)
    n = len(votes)
    return {
        "layers": [r.layer for r in runs],
        "episodes": n,
        "vote_success": sum(votes.values()) / n,
        "best_single_success": max(len(s) for s in solved.values()) / n,
        "full_success": sum(bool(full_records[e]["won"]) for e in votes if e in full_records) / n,
        "union_success": len(set().union(*solved.values())) / n,
        "jaccard_mean": float(np.nanmean(list(pairs.values()))),
        "jaccard_pairs": pairs,
    }
