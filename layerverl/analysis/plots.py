"""Figures of a layer-contribution study (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from layerverl.analysis.contribution import ContributionResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_contribution(results: list[ContributionResult], path: Path, by: str = "layer") -> Path:
    """C(k) against layer index (`by="layer"`) or relative depth k / L (`by="depth"`), one line per sweep,
    95% CI error bars and the C = 1 (matches full RL) line.

    The y axis spans at most [-3, 3] so that one collapsed layer (C far below 0) does not flatten the rest;
    a point outside is drawn at the edge as a triangle labelled with its value.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    lines = []
    for result in results:
        rows = result.layer_rows
        x = np.array([r.layer if by == "layer" else r.relative_depth for r in rows], dtype=float)
        c = np.array([r.contribution for r in rows])
        err = np.abs(np.array([r.contribution_ci for r in rows]).T - c)
        line = ax.errorbar(x, c, yerr=np.nan_to_num(err), marker="o", capsize=3, label=result.sweep_name)
        lines.append((x, c, line.lines[0].get_color()))
    every = np.concatenate([c for _, c, _ in lines])
    every = every[np.isfinite(every)]
    low, high = (
        (max(min(every.min() - 0.5, -1.0), -3.0), min(max(every.max() + 0.5, 2.0), 3.0))
        if every.size
        else (-3, 3)
    )
    ax.set_ylim(low, high)
    for i, (x, c, color) in enumerate(lines):
        for xi, ci in zip(x, c, strict=True):
            if not low <= ci <= high:
                edge, shift = (low, 6 + 11 * i) if ci < low else (high, -12 - 11 * i)
                ax.plot(xi, edge, marker="v" if ci < low else "^", color=color, markersize=9, clip_on=False)
                ax.annotate(
                    f"{ci:.1f}",
                    (xi, edge),
                    xytext=(8, shift),
                    textcoords="offset points",
                    color=color,
                    fontsize=8,
                )
    ax.axhline(1.0, color="gray", linestyle="--", label="C = 1 (full RL)")
    ax.axhline(0.0, color="gray", linestyle=":", linewidth=0.8)
    ax.set(
        xlabel="layer index" if by == "layer" else "relative depth k / L",
        ylabel="C(k)",
        title="per-layer contribution",
    )
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_success_bars(result: ContributionResult, path: Path) -> Path:
    """Success of base, full, the best single layer and each strategy, with 95% CIs."""
    plt = _pyplot()
    chosen = [result.get("base"), result.get("full")]
    if result.layer_rows:
        chosen.append(max(result.layer_rows, key=lambda r: r.contribution))
    chosen += result.strategy_rows
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(chosen)), 4))
    success = np.array([r.success for r in chosen])
    err = np.abs(np.array([r.success_ci for r in chosen]).T - success)
    labels = [f"best single ({r.label})" if r.setting == "layer" else r.label for r in chosen]
    ax.bar(
        range(len(chosen)), success, yerr=err, capsize=3, color=["gray", "black"] + ["C0"] * (len(chosen) - 2)
    )
    ax.set_xticks(range(len(chosen)), labels, rotation=30, ha="right")
    ax.set(ylabel=f"success ({result.split})", title=result.sweep_name)
    return _save(fig, path)


def plot_rank_scatter(
    a: Any, b: Any, labels: list[str], names: tuple[str, str], stats: dict[str, float], path: Path
) -> Path:
    """Ranks of the same layers (or depths) in two sweeps, with Spearman and Kendall in the title."""
    from scipy.stats import rankdata

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    rank_a, rank_b = rankdata(-np.asarray(a)), rankdata(-np.asarray(b))
    ax.scatter(rank_a, rank_b)
    for x, y, label in zip(rank_a, rank_b, labels, strict=True):
        ax.annotate(label, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    top = max(len(rank_a), 1)
    ax.plot([1, top], [1, top], color="gray", linestyle="--")
    ax.set(
        xlabel=f"rank in {names[0]}",
        ylabel=f"rank in {names[1]}",
        title=f"Spearman {stats['spearman']:.2f} (p={stats['spearman_p']:.2g}), "
        f"Kendall {stats['kendall']:.2f}",
    )
    ax.title.set_fontsize(9)
    return _save(fig, path)


def plot_weight_change(result: ContributionResult, weight_rows: list[dict[str, Any]], path: Path) -> Path:
    """||delta theta_k|| against C(k): of layer k trained alone, and of layer k inside full RL."""
    plt = _pyplot()
    contribution = {r.layer: r.contribution for r in result.layer_rows}
    fig, ax = plt.subplots(figsize=(5, 4))
    for setting, label in (("layer", "layer trained alone"), ("full", "same layer in full RL")):
        points = [
            (contribution[w["layer"]], w["norm"])
            for w in weight_rows
            if w["setting"] == setting and w["layer"] in contribution
        ]
        if points:
            ax.scatter(*zip(*points, strict=True), label=label)
    ax.set(xlabel="C(k)", ylabel="||delta theta_k||_2", title="weight change vs contribution")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
