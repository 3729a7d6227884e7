"""Finished runs of a sweep directory: what each run trained, its seed, and its evaluation outcomes.

A run is any directory under the sweep with a complete `summary.json`; its `config.yaml` says what it is:
`base` (trainer.iterations = 0), `full` (layer.spec all), a single `layer` k, `boost-<spec>` (layer.boost)
or a named strategy (`only-top3`, `only-bottom3`, `mid3`). Per-episode outcomes come from `episodes.jsonl`
when the run wrote one (one JSON object per evaluated episode: phase base|final, split, episode, won,
optional task_type, score, answer); otherwise they are rebuilt as success x episodes Bernoulli outcomes
from summary.json, which keeps counts but loses which task each outcome belongs to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layerverl.layers import PROFILE_SPEC
from layerverl.sweep import read_summary

EPISODES_FILE = "episodes.jsonl"


@dataclass
class RunRecord:
    """One finished run: its setting (base | full | layer | strategy name), layer, seed and results."""

    path: Path
    setting: str
    layer: int | None
    seed: int
    num_layers: int
    summary: dict[str, Any]
    config: dict[str, Any]
    episodes: list[dict[str, Any]] | None

    @property
    def relative_depth(self) -> float | None:
        """k / L, the depth `resolve_layers` maps back to layer k."""
        return None if self.layer is None else self.layer / self.num_layers

    def result(self, phase: str, split: str) -> dict[str, Any]:
        """summary.json's entry for (`base` | `final`, split)."""
        return self.summary[phase][split]

    def outcomes(self, phase: str, split: str, task_type: str | None = None) -> np.ndarray:
        """0/1 per evaluated episode, ordered by episode index; rebuilt from counts without episodes.jsonl."""
        if self.episodes is not None:
            rows = sorted(
                (
                    e
                    for e in self.episodes
                    if e["phase"] == phase
                    and e["split"] == split
                    and (task_type is None or str(e.get("task_type")) == task_type)
                ),
                key=lambda e: e["episode"],
            )
            return np.array([float(bool(e["won"])) for e in rows])
        result = self.result(phase, split)
        if task_type is not None:
            result = result.get("per_task_type", {}).get(task_type, {"success": 0.0, "episodes": 0})
        successes = round(result["success"] * result["episodes"])
        return np.concatenate([np.ones(successes), np.zeros(result["episodes"] - successes)])

    def episode_records(self, phase: str, split: str) -> dict[int, dict[str, Any]]:
        """episodes.jsonl rows of one evaluation keyed by episode index (empty without the file)."""
        return {e["episode"]: e for e in self.episodes or [] if e["phase"] == phase and e["split"] == split}


def classify(summary: dict[str, Any], config: dict[str, Any]) -> tuple[str, int | None]:
    """(setting, layer) of a run from its config (layer.spec, layer.boost) and summary (layers, iterations)."""
    num_layers = summary["num_layers"]
    layer_cfg = config.get("layer", {})
    spec, boost = str(layer_cfg.get("spec", "")).lower(), layer_cfg.get("boost")
    if summary["iterations"] == 0:
        return "base", None
    if boost is not None:
        return f"boost-{boost}", None
    if match := PROFILE_SPEC.fullmatch(spec):
        return f"only-{match.group(1)}{match.group(2)}", None
    if re.fullmatch(r"mid\d+", spec):
        return spec, None
    layers = summary["layers"]
    if len(layers) == num_layers:
        return "full", None
    if len(layers) == 1:
        return "layer", int(layers[0])
    return "layers-" + "-".join(map(str, layers)), None


def load_run(run_dir: Path) -> RunRecord | None:
    """The run in `run_dir`, or None when its summary.json is missing or incomplete."""
    summary = read_summary(run_dir)
    if summary is None:
        return None
    config: dict[str, Any] = {}
    if (run_dir / "config.yaml").exists():
        from omegaconf import OmegaConf

        config = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
    seed = config.get("seed")
    if seed is None:
        match = re.search(r"seed(\d+)$", run_dir.name)
        seed = int(match.group(1)) if match else 0
    episodes = None
    if (run_dir / EPISODES_FILE).exists():
        episodes = [
            json.loads(line) for line in (run_dir / EPISODES_FILE).read_text().splitlines() if line.strip()
        ]
    setting, layer = classify(summary, config)
    return RunRecord(run_dir, setting, layer, int(seed), summary["num_layers"], summary, config, episodes)


@dataclass
class Sweep:
    """Every finished run of one env / algo / model under a sweep directory."""

    path: Path
    runs: list[RunRecord]
    skipped: list[Path]  # directories with a summary.json that is not complete

    @property
    def name(self) -> str:
        """The sweep directory's name (multirun/<env>-<algo>-<model> by default): the label in tables and plots."""
        return self.path.resolve().name

    @property
    def description(self) -> str:
        """env / algo / model and depth of the sweep."""
        s = self.runs[0].summary
        return f"{s['env']} / {s['algo']} / {s.get('model', '?')}, {self.num_layers} layers"

    @property
    def num_layers(self) -> int:
        return self.runs[0].num_layers

    def splits(self) -> list[str]:
        """Evaluation splits every run has."""
        common = set.intersection(*(set(r.summary["final"]) for r in self.runs))
        return [s for s in self.runs[0].summary["final"] if s in common]

    def settings(self) -> list[str]:
        """Settings present, in the order base, full, layer, then strategies by name."""
        names = {r.setting for r in self.runs}
        return [s for s in ("base", "full", "layer") if s in names] + sorted(
            names - {"base", "full", "layer"}
        )

    def select(self, setting: str, layer: int | None = None) -> list[RunRecord]:
        """Runs of one setting (and layer), ordered by seed."""
        return sorted(
            (r for r in self.runs if r.setting == setting and (layer is None or r.layer == layer)),
            key=lambda r: r.seed,
        )

    def layers(self) -> list[int]:
        """Layers with at least one single-layer run."""
        return sorted({r.layer for r in self.runs if r.setting == "layer"})

    def has_episodes(self) -> bool:
        """True when every run wrote per-episode outcomes."""
        return all(r.episodes is not None for r in self.runs)


def load_sweep(sweep_dir: str | Path) -> Sweep:
    """All finished runs under `sweep_dir` (any depth); raises if there are none or they mix env/algo/model."""
    sweep_dir = Path(sweep_dir)
    runs, skipped = [], []
    for summary_file in sorted(sweep_dir.rglob("summary.json")):
        run = load_run(summary_file.parent)
        if run is None:
            skipped.append(summary_file.parent)
        else:
            runs.append(run)
    if not runs:
        raise FileNotFoundError(f"no finished run (complete summary.json) under {sweep_dir}")
    kinds = {(r.summary["env"], r.summary["algo"], r.summary.get("model"), r.num_layers) for r in runs}
    if len(kinds) > 1:
        raise ValueError(
            f"{sweep_dir} mixes runs of {sorted(kinds, key=str)}; analyze one env/algo/model at a time"
        )
    return Sweep(sweep_dir, runs, skipped)
