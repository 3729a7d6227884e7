"""From a finished sweep to the §4 strategies: the profile JSON that `layer=topK` reads, and the runs to launch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from layerverl.analysis.contribution import ContributionResult
from layerverl.sweep import strategy_overrides


def write_profile(result: ContributionResult, path: str | Path) -> Path:
    """Write {"contribution": {layer: C}} for every layer (what `resolve_layers` topK/bottomK reads).

    A partial scan fills each unmeasured layer by linear interpolation in depth between measured ones
    (clamped at the ends) and lists the measured layers under "measured", which topK / bottomK then rank.
    """
    rows = result.layer_rows
    if not rows:
        raise ValueError("the sweep has no single-layer runs to profile")
    measured = np.array([r.layer for r in rows])
    scores = np.interp(np.arange(result.num_layers), measured, [r.contribution for r in rows])
    profile = {
        "contribution": {str(k): float(c) for k, c in enumerate(scores)},
        "measured": measured.tolist(),
        "ci": {str(r.layer): list(r.contribution_ci) for r in rows},
        "sweep": result.sweep_name,
        "split": result.split,
        "S_base": result.get("base").success,
        "S_full": result.get("full").success,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile, indent=2))
    return path


def strategy_commands(
    profile: str | Path,
    k: int,
    sweep_args: str = "env=... algo=...",
    lr: float | None = None,
    full_lr: float | None = None,
) -> list[str]:
    """The run.py command of each strategy, and the one sweep command that launches them all with seeds.

    `lr` is the single-layer runs' rate, `full_lr` the full run's; Boost trains every layer, so it gets `full_lr`.
    """

    def rate(name: str) -> str:
        chosen = full_lr if name.startswith("boost") and full_lr is not None else lr
        return "" if chosen is None else f" trainer.lr={chosen}"

    lines = [
        f"python run.py {sweep_args}{rate(name)} {' '.join(o)}    # {name}"
        for name, o in strategy_overrides(k, profile).items()
    ]
    rates = rate("") + ("" if full_lr is None else f" full_lr={full_lr}")
    lines.append(
        f"python -m layerverl.sweep {sweep_args}{rates} seeds=3 strategies={k} profile={Path(profile).resolve()}"
    )
    return lines
