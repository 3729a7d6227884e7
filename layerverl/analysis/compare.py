"""Rank agreement of C between two sweeps (datasets, algorithms or model sizes), by layer or relative depth."""

from __future__ import annotations

from typing import Any

import numpy as np

from layerverl.analysis.contribution import ContributionResult
from layerverl.analysis.stats import align_by_depth, correlations


def compare(a: ContributionResult, b: ContributionResult) -> dict[str, Any]:
    """Spearman, Kendall (with p-values) and Pearson between the C vectors of `a` and `b`.

    Same depth: matched by layer index over the layers both profiled. Different depth: matched at relative
    depth k / L, the denser sweep interpolated onto the sparser one's depths.
    """
    c_a = {r.layer: r.contribution for r in a.layer_rows}
    c_b = {r.layer: r.contribution for r in b.layer_rows}
    if a.num_layers == b.num_layers:
        shared = sorted(set(c_a) & set(c_b))
        x, score_a, score_b = (
            np.array(shared, dtype=float),
            np.array([c_a[k] for k in shared]),
            np.array([c_b[k] for k in shared]),
        )
        labels, matched_by = [f"L{k}" for k in shared], "layer"
    else:
        x, score_a, score_b = align_by_depth(
            [k / a.num_layers for k in c_a],
            list(c_a.values()),
            [k / b.num_layers for k in c_b],
            list(c_b.values()),
        )
        labels, matched_by = [f"{d:.2f}" for d in x], "relative depth"
    return {
        "a": a.sweep_name,
        "b": b.sweep_name,
        "matched_by": matched_by,
        "points": labels,
        "C_a": score_a.tolist(),
        "C_b": score_b.tolist(),
        **correlations(score_a, score_b),
    }
