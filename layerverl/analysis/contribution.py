"""C(k) per layer and per strategy from a sweep, with bootstrap CIs over seeds and evaluation episodes.

S of a setting is its success rate averaged over seeds. S_base comes from the sweep's base runs
(`trainer.iterations=0`), or else from the `base` evaluation that every training run records.
A strategy's C is the fraction of the full-RL gain it recovers; C - 1 is its gain over full RL in
units of the full-RL gain (the paper's "+43%").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layerverl.analysis.runs import RunRecord, Sweep
from layerverl.analysis.stats import bootstrap_success, contribution, percentile_ci


@dataclass
class SettingResult:
    """One setting (base, full, a layer or a strategy): success and C, each with its bootstrap CI."""

    setting: str
    layer: int | None
    relative_depth: float | None
    seeds: list[int]
    episodes: int
    success: float
    success_ci: tuple[float, float]
    contribution: float
    contribution_ci: tuple[float, float]
    per_seed: list[float]

    @property
    def label(self) -> str:
        return f"L{self.layer}" if self.setting == "layer" else self.setting


@dataclass
class ContributionResult:
    """Every setting of one sweep on one split, plus the per-task-type breakdown."""

    sweep_name: str
    split: str
    num_layers: int
    paired: bool  # episodes resampled jointly across runs (per-episode outcomes on a shared task list)
    rows: list[SettingResult]
    per_task_type: list[dict[str, Any]] = field(default_factory=list)

    def get(self, setting: str, layer: int | None = None) -> SettingResult | None:
        return next((r for r in self.rows if r.setting == setting and r.layer == layer), None)

    @property
    def layer_rows(self) -> list[SettingResult]:
        return [r for r in self.rows if r.setting == "layer"]

    @property
    def strategy_rows(self) -> list[SettingResult]:
        return [r for r in self.rows if r.setting not in ("base", "full", "layer")]

    def summary(self) -> dict[str, Any]:
        """S_base, S_full, layers with C >= 1, best and worst layer, and each strategy's share of the full gain."""
        layers = self.layer_rows
        out: dict[str, Any] = {
            "sweep": self.sweep_name,
            "split": self.split,
            "num_layers": self.num_layers,
            "layers_profiled": [r.layer for r in layers],
            "paired_episodes": self.paired,
            "S_base": self.get("base").success,
            "S_full": self.get("full").success,
            "S_full_ci": list(self.get("full").success_ci),
        }
        if layers:
            best = max(layers, key=lambda r: r.contribution)
            worst = min(layers, key=lambda r: r.contribution)
            out.update(
                {
                    "layers_c_ge_1": [r.layer for r in layers if r.contribution >= 1],
                    "layers_ci_above_1": [r.layer for r in layers if r.contribution_ci[0] >= 1],
                    "best": {"layer": best.layer, "C": best.contribution, "ci": list(best.contribution_ci)},
                    "worst": {
                        "layer": worst.layer,
                        "C": worst.contribution,
                        "ci": list(worst.contribution_ci),
                    },
                }
            )
        out["strategies"] = {
            r.setting: {
                "success": r.success,
                "C": r.contribution,
                "over_full": r.contribution - 1,
                "ci": list(r.contribution_ci),
            }
            for r in self.strategy_rows
        }
        return out


def base_runs(sweep: Sweep) -> tuple[list[RunRecord], str]:
    """The runs that give S_base and the phase to read: base runs' final evaluation, else training runs' base."""
    if runs := sweep.select("base"):
        return runs, "final"
    donors = sweep.select("full") or sorted(sweep.runs, key=lambda r: r.seed)
    one_per_seed = {r.seed: r for r in reversed(donors)}
    return [one_per_seed[s] for s in sorted(one_per_seed)], "base"


def analyze(
    sweep: Sweep, split: str | None = None, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> ContributionResult:
    """C(k) for every layer and strategy of `sweep` on `split` (default: its first evaluation split)."""
    split = split or sweep.splits()[0]
    if not sweep.select("full"):
        raise ValueError(f"{sweep.path} has no full-parameter run (layer=all); C(k) needs S_full")
    rows, paired = _settings(sweep, split, None, n_boot, seed, level, sweep.has_episodes())
    result = ContributionResult(sweep.name, split, sweep.num_layers, paired, rows)
    for task_type in _task_types(sweep, split):
        for row in _settings(sweep, split, task_type, n_boot, seed, level, paired)[0]:
            result.per_task_type.append(
                {
                    "task_type": task_type,
                    "setting": row.setting,
                    "layer": row.layer,
                    "episodes": row.episodes,
                    "success": row.success,
                    "C": row.contribution,
                    "C_ci": list(row.contribution_ci),
                }
            )
    return result


def _settings(
    sweep: Sweep, split: str, task_type: str | None, n_boot: int, seed: int, level: float, paired: bool
) -> tuple[list[SettingResult], bool]:
    """SettingResults of base, full, each layer and each strategy, with replicates shared across settings."""
    rng = np.random.default_rng(seed)
    base, base_phase = base_runs(sweep)
    groups: list[tuple[str, int | None, list[RunRecord], str]] = [("base", None, base, base_phase)]
    groups += [("full", None, sweep.select("full"), "final")]
    groups += [("layer", k, sweep.select("layer", k), "final") for k in sweep.layers()]
    groups += [
        (s, None, sweep.select(s), "final") for s in sweep.settings() if s not in ("base", "full", "layer")
    ]
    outcomes = [[r.outcomes(phase, split, task_type) for r in runs] for _, _, runs, phase in groups]
    lengths = {len(o) for runs in outcomes for o in runs}
    paired = paired and len(lengths) == 1 and 0 not in lengths
    episode_index = None
    if paired:  # the same tasks in every run: one episode draw per replicate for all runs
        episodes = lengths.pop()
        episode_index = rng.integers(0, episodes, (n_boot, episodes))
    replicates = [bootstrap_success(o, n_boot, rng, episode_index) for o in outcomes]
    points = [float(np.mean([o.mean() if len(o) else np.nan for o in runs])) for runs in outcomes]
    rows = []
    for (setting, layer, runs, _), runs_outcomes, point, reps in zip(
        groups, outcomes, points, replicates, strict=True
    ):
        rows.append(
            SettingResult(
                setting,
                layer,
                None if layer is None else layer / sweep.num_layers,
                [r.seed for r in runs],
                sum(len(o) for o in runs_outcomes),
                point,
                percentile_ci(reps, level),
                contribution(point, points[0], points[1]),
                percentile_ci(contribution(reps, replicates[0], replicates[1]), level),
                [float(o.mean()) if len(o) else float("nan") for o in runs_outcomes],
            )
        )
    return rows, paired


def _task_types(sweep: Sweep, split: str) -> list[str]:
    """Task types named in the runs' per-task-type results (or episodes) on `split`."""
    names: set[str] = set()
    for run in sweep.runs:
        for phase in ("base", "final"):
            names |= set(run.summary[phase].get(split, {}).get("per_task_type", {}))
        names |= {str(e["task_type"]) for e in run.episodes or [] if e.get("task_type") is not None}
    return sorted(names)
