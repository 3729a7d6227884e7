"""Re-evaluate a run: its base policy and its latest checkpoint on the run's evaluation splits, under the
run's evaluation settings or others (sampled instead of greedy, more episodes, another sampling seed or
thread count).

    python -m layerverl.evaluate outputs/alfworld-gigpo-layermid-boostNone-seed0 trainer.eval_temperature=0.4

Prints before/after success with the paired comparison and appends the result to `<run>/evaluations.jsonl`;
evaluation n's episodes (what each policy answered) go to `<run>/evaluation-<n>-episodes.jsonl`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from layerverl.checkpoint import load_checkpoint
from layerverl.config import ConfigError
from layerverl.report import score_change_text, write_episodes
from layerverl.trainer import compare, evaluate_splits, setup

SETTINGS = (
    "seed",
    "trainer.eval_temperature",
    "trainer.eval_episodes",
    "trainer.eval_batch_size",
    "backend.threads",
)


def evaluate_run(run_dir: Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Success of the base policy and of the checkpointed one, per split, with the settings overridden
    (`key=value`, keys from `SETTINGS`; `seed` seeds the evaluation's sampling); and the two evaluations
    ({"base" | "final": {split: EvalResult}}) for their episode records."""
    for override in overrides:
        key = override.split("=", 1)[0]
        if "=" not in override or key not in SETTINGS:
            raise ConfigError(
                f"cannot override {override!r}; choose key=value with key one of {', '.join(SETTINGS)}"
            )
    state = load_checkpoint(run_dir / "checkpoints")
    if state is None:
        raise ConfigError(f"{run_dir / 'checkpoints'} holds no checkpoint to evaluate")
    cfg = OmegaConf.merge(OmegaConf.create(state["config"]), OmegaConf.from_dotlist(list(overrides)))
    run = setup(cfg)
    base = evaluate_splits(run, cfg)
    run.model.load_state_dict(state["trained"], strict=False)
    final = evaluate_splits(run, cfg)
    run.envs.close()
    result = {"overrides": list(overrides), "iteration": state["iteration"], **compare(base, final)}
    return result, {"base": base, "final": final}


def main(argv: list[str]) -> None:
    if not argv or "=" in argv[0]:
        sys.exit(f"usage: python -m layerverl.evaluate RUN_DIR [{'=... '.join(SETTINGS)}=...]")
    try:
        result, evaluations = evaluate_run(Path(argv[0]), argv[1:])
    except ConfigError as error:
        sys.exit(f"config error: {error}")
    for split, final in result["final"].items():
        base, paired = result["base"][split], result["paired"][split]
        print(
            f"{split} at iteration {result['iteration']} ({' '.join(result['overrides']) or 'the run settings'}): "
            f"{base['success']:.1%} -> {final['success']:.1%} over {final['episodes']} episodes; "
            f"{paired['only_after']} solved only after, {paired['only_before']} only before "
            f"(exact McNemar p = {paired['p']:.3g})"
            + (f"; {score_change_text(base, final, paired)}" if "score_change" in paired else "")
        )
    log = Path(argv[0]) / "evaluations.jsonl"
    number = len(log.read_text().splitlines()) if log.exists() else 0
    with open(log, "a") as f:
        f.write(json.dumps(result) + "\n")
    write_episodes(Path(argv[0]) / f"evaluation-{number}-episodes.jsonl", evaluations)


if __name__ == "__main__":
    main(sys.argv[1:])
