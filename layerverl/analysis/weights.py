"""Per-layer weight change ||theta_k(trained) - theta_k(initial)||_2 of full and single-layer runs.

The initial weights are the run's starting checkpoint (`model.path` in config.yaml: null = the shipped
tiny checkpoint, an embedded model's name = its converted folder), read from its safetensors files; the trained ones are `checkpoints/latest.pt`["trained"].
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from layerverl.analysis.runs import Sweep

LAYER_NAME = re.compile(r"(?:^|\.)(?:layers|h)\.(\d+)\.")


def layer_weight_changes(trained: dict[str, Any], initial: dict[str, Any]) -> dict[int, float]:
    """L2 norm of the change of each decoder layer's parameters taken together (layers absent from `trained`
    are left out)."""
    squares: dict[int, float] = {}
    for name, value in trained.items():
        match = LAYER_NAME.search(name)
        if match is None:
            continue
        delta = np.asarray(value, dtype=np.float64) - np.asarray(initial[name], dtype=np.float64)
        squares[int(match.group(1))] = squares.get(int(match.group(1)), 0.0) + float((delta**2).sum())
    return {k: float(np.sqrt(v)) for k, v in sorted(squares.items())}


def initial_weights(model_path: str | Path | None, names: list[str]) -> dict[str, np.ndarray]:
    """The named tensors of a run's starting checkpoint (all *.safetensors shards) as float arrays."""
    from safetensors import safe_open

    from agents.pretrained import model_folder

    model_path = model_folder(model_path)
    wanted, found = set(names), {}
    for shard in sorted(Path(model_path).glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as f:
            for name in wanted & set(f.keys()):
                found[name] = f.get_tensor(name).float().numpy()
    if missing := wanted - set(found):
        raise FileNotFoundError(
            f"{model_path} lacks {len(missing)} trained tensors, e.g. {sorted(missing)[0]}"
        )
    return found


def sweep_weight_changes(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per (run, layer) for full and single-layer runs: setting, layer, seed, norm. Each run's norms
    are computed from its checkpoint and kept beside it in `weight_change.json`, which is read when the
    checkpoint is gone (results pages keep runs without their checkpoints)."""
    rows: list[dict[str, Any]] = []
    cache: dict[Any, dict[str, np.ndarray]] = {}
    for run in sweep.runs:
        if run.setting not in ("full", "layer"):
            continue
        checkpoint, saved = run.path / "checkpoints" / "latest.pt", run.path / "weight_change.json"
        if checkpoint.exists():
            norms = run_weight_changes(checkpoint, run.config.get("model", {}).get("path"), cache)
            saved.write_text(json.dumps({str(k): v for k, v in norms.items()}, indent=1))
        elif saved.exists():
            norms = {int(k): float(v) for k, v in json.loads(saved.read_text()).items()}
        else:
            continue
        rows += [{"setting": run.setting, "layer": k, "seed": run.seed, "norm": v} for k, v in norms.items()]
    return rows


def run_weight_changes(
    checkpoint: Path, model_path: Any, cache: dict[Any, dict[str, np.ndarray]]
) -> dict[int, float]:
    """A run's per-layer change from its starting weights, which `cache` keeps per model path across runs."""
    import torch

    trained = {
        n: t.float().numpy()
        for n, t in torch.load(checkpoint, weights_only=False)["trained"].items()
        if LAYER_NAME.search(n)
    }
    known = cache.setdefault(model_path, {})
    missing = [n for n in trained if n not in known]
    known.update(initial_weights(model_path, missing) if missing else {})
    return layer_weight_changes(trained, known)
