"""Layer contribution, its bootstrap over seeds and evaluation episodes, and correlations between sweeps."""

from __future__ import annotations

from typing import Any

import numpy as np


def contribution(s_k: Any, s_base: Any, s_full: Any) -> Any:
    """C(k) = (S_k - S_base) / (S_full - S_base); NaN where full RL gained nothing over the base."""
    s_k, s_base, s_full = (np.asarray(x, dtype=float) for x in (s_k, s_base, s_full))
    gain = s_full - s_base
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(gain != 0, (s_k - s_base) / np.where(gain != 0, gain, 1.0), np.nan)
    return float(c) if c.ndim == 0 else c


def bootstrap_success(
    runs: list[np.ndarray], n_boot: int, rng: np.random.Generator, episode_index: np.ndarray | None = None
) -> np.ndarray:
    """(n_boot,) success rates of a setting: resample its seeds, then episodes within each drawn seed's run.

    `runs` holds one 0/1 outcome array per seed. With `episode_index` (n_boot, episodes), every run uses
    the same episode draw (paired over a shared task list); otherwise each run draws its own.
    """
    if not runs:
        raise ValueError("a setting needs at least one run to bootstrap")
    seed_draw = rng.integers(0, len(runs), size=(n_boot, len(runs)))
    replicates = np.zeros(n_boot)
    for slot in range(len(runs)):
        means = np.empty((len(runs), n_boot))
        for i, outcomes in enumerate(runs):
            if not len(outcomes):
                means[i] = np.nan
                continue
            index = (
                episode_index
                if episode_index is not None
                else rng.integers(0, len(outcomes), (n_boot, len(outcomes)))
            )
            means[i] = outcomes[index].mean(axis=1)
        replicates += means[seed_draw[:, slot], np.arange(n_boot)]
    return replicates / len(runs)


def percentile_ci(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates, ignoring NaN (replicates where full RL gained nothing)."""
    finite = replicates[np.isfinite(replicates)]
    if not len(finite):
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def correlations(a: Any, b: Any) -> dict[str, float]:
    """Spearman rho, Kendall tau and Pearson r between two score vectors over the same layers, with p-values."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3:
        raise ValueError(f"correlations need at least 3 layers scored in both sweeps, got {len(a)}")
    spearman, kendall, pearson = stats.spearmanr(a, b), stats.kendalltau(a, b), stats.pearsonr(a, b)
    return {
        "n": int(len(a)),
        "spearman": float(spearman.statistic),
        "spearman_p": float(spearman.pvalue),
        "kendall": float(kendall.statistic),
        "kendall_p": float(kendall.pvalue),
        "pearson": float(pearson.statistic),
        "pearson_p": float(pearson.pvalue),
    }


def align_by_depth(
    depth_a: Any, score_a: Any, depth_b: Any, score_b: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(depths, a, b) on the sparser sweep's depths, the other sweep linearly interpolated there.

    Two models of different depth compare at equal relative depth k / L; depths outside the other sweep's
    measured range are dropped rather than extrapolated.
    """
    depth_a, score_a, depth_b, score_b = (
        np.asarray(x, dtype=float) for x in (depth_a, score_a, depth_b, score_b)
    )
    swap = len(depth_b) < len(depth_a)
    if swap:
        depth_a, score_a, depth_b, score_b = depth_b, score_b, depth_a, score_a
    order = np.argsort(depth_b)
    inside = (depth_a >= depth_b.min()) & (depth_a <= depth_b.max())
    grid = depth_a[inside]
    on_grid, interpolated = score_a[inside], np.interp(grid, depth_b[order], score_b[order])
    return (grid, interpolated, on_grid) if swap else (grid, on_grid, interpolated)
