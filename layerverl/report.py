"""What a finished run writes: config.yaml, summary.json, episodes.jsonl, report.md and curves.png
(metrics.jsonl is written as it runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def write_report(
    out_dir: Path,
    cfg: DictConfig,
    summary: dict[str, Any],
    history: list[dict[str, Any]],
    evaluations: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Write every run output into `out_dir` and print the one-paragraph summary.

    `evaluations` ({"base"|"final": {split: EvalResult}}) adds episodes.jsonl, one line per evaluated episode.
    `summary` gains `code_sandbox` (the isolation its code rewards used) if the trainer did not set it.
    """
    summary.setdefault("code_sandbox", code_sandbox(cfg))
    out_dir.mkdir(parents=True, exist_ok=True)
    if evaluations is not None:
        write_episodes(out_dir / "episodes.jsonl", evaluations)
    (out_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    plot_curves(out_dir / "curves.png", history, summary)
    text = summary_lines(summary)
    (out_dir / "report.md").write_text(
        f"# {summary['env']} / {summary['algo']} / layers {summary['layers']}\n\n"
        + "\n".join(f"- {line}" for line in text)
        + "\n\n![learning curves](curves.png)\n"
    )
    print("\n".join(text))


def write_episodes(path: Path, evaluations: dict[str, dict[str, Any]]) -> None:
    """One JSON line per evaluated episode: phase ("base" | "final"), split and its outcome record."""
    with open(path, "w") as f:
        for phase, results in evaluations.items():
            for split, result in results.items():
                for outcome in result.outcomes:
                    f.write(json.dumps({"phase": phase, "split": split, **outcome}) + "\n")


def code_sandbox(cfg: DictConfig) -> str:
    """The isolation this run's code rewards use ("bwrap", "unshare", "unisolated"), or that it scores no code."""
    from envs.rewards import CODE_DATA_SOURCES, isolation_record

    kwargs = cfg.env.get("kwargs") or {}
    data_source = kwargs.get("data_source", "code" if cfg.env.name == "code" else None)
    return isolation_record(cfg.env.name == "code" or data_source in CODE_DATA_SOURCES)


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Before/after success per split, what trained, and the wall time."""
    lines = [
        f"trained layers {summary['layers']} of {summary['num_layers']}: {summary['trainable_params']:,} of "
        f"{summary['total_params']:,} parameters ({summary['trainable_params'] / summary['total_params']:.1%})",
        f"wall time {summary['wall_time_s']:.0f} s for {summary['iterations']} iterations",
    ]
    if "code_sandbox" in summary:
        lines.append(f"code sandbox isolation: {summary['code_sandbox']}")
    for split, final in summary["final"].items():
        base = summary["base"][split]
        lines.append(
            f"{split} success {base['success']:.1%} [{base['ci'][0]:.1%}, {base['ci'][1]:.1%}] -> "
            f"{final['success']:.1%} [{final['ci'][0]:.1%}, {final['ci'][1]:.1%}] over {final['episodes']} episodes"
        )
        if split in summary.get("paired", {}):
            paired = summary["paired"][split]
            lines.append(
                f"{split}, the same {paired['episodes']} tasks before and after: {paired['only_after']} solved only "
                f"after, {paired['only_before']} only before (exact McNemar p = {paired['p']:.3g})"
            )
        if "score_change" in summary.get("paired", {}).get(split, {}):
            lines.append(f"{split} {score_change_text(base, final, summary['paired'][split])}")
    return lines


def score_change_text(base: dict[str, Any], final: dict[str, Any], paired: dict[str, Any]) -> str:
    """The paired score change of one split, as report.md and `layerverl.evaluate` print it."""
    return (
        f"score {base['score']:.3f} -> {final['score']:.3f}: it rose on {paired['score_rose']} tasks, "
        f"fell on {paired['score_fell']} (exact sign test p = {paired['score_p']:.3g})"
    )


SMOOTHING = 5  # iterations in the rolling mean of the training curves (each iteration sees other tasks)


def rolling_mean(values: list[float], window: int = SMOOTHING) -> list[float]:
    """Mean of each value and the up to `window - 1` before it."""
    return [
        sum(values[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1))
        for i in range(len(values))
    ]


def plot_curves(path: Path, history: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Training success and return per iteration, with the evaluation points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    iterations = [row["iteration"] for row in history]
    success = [row["train/success_rate"] for row in history]
    left.plot(iterations, success, alpha=0.35, color="C0")
    left.plot(iterations, rolling_mean(success), color="C0", label=f"train (sampled, mean of {SMOOTHING})")
    for color, split in enumerate(summary["final"], start=1):
        points = [(0, summary["base"][split]["success"])]
        points += [
            (row["iteration"], row[f"eval/{split}/success"])
            for row in history
            if f"eval/{split}/success" in row
        ]
        points.append((summary["iterations"], summary["final"][split]["success"]))
        left.plot(*zip(*points, strict=True), marker="o", color=f"C{color}", label=f"eval {split}")
    left.set(xlabel="iteration", ylabel="success rate", title="success")
    left.legend()
    returns = [row["train/episode_return"] for row in history]
    right.plot(iterations, returns, alpha=0.35, color="C0")
    right.plot(iterations, rolling_mean(returns), color="C0")
    right.set(xlabel="iteration", ylabel="mean episode return", title="return")
    fig.suptitle(f"{summary['env']} / {summary['algo']} / layers {summary['layers']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
