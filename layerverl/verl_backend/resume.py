"""Resuming an interrupted verl run from its run directory, as re-running a local run's command does.

verl's own checkpoint (`trainer.resume_mode=auto`, written every `trainer.checkpoint_every` steps under
`checkpoints/global_step_N`) holds the trained layers, the optimizer and the data order. Two things it
does not do are done here: it would resume a checkpoint of any config, and its file logger truncates
`verl_metrics.jsonl` when it opens it, so the interrupted part's rows would be lost from the run's history.
"""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from verl.utils.checkpoint.checkpoint_manager import find_latest_ckpt_path

from layerverl.config import ConfigError, run_identity

IDENTITY = "layerverl_run.json"  # in checkpoints/: the config the checkpoints belong to
METRICS = "verl_metrics.jsonl"  # verl's file logger writes here (VERL_FILE_LOGGER_PATH)
EARLIER_METRICS = "verl_metrics_earlier.jsonl"  # what the interrupted parts logged, oldest first


def prepare_resume(cfg: DictConfig, out_dir: Path) -> int | None:
    """Before verl starts in `out_dir`: the step its checkpoint resumes from, or None for a fresh start.

    Refuses a checkpoint written under another config (one line, before any work); keeps the logged rows
    of the interrupted part in `EARLIER_METRICS`; a fresh start clears both metrics files."""
    ckpt_dir = out_dir / "checkpoints"
    identity = run_identity(OmegaConf.to_container(cfg, resolve=True))
    latest = find_latest_ckpt_path(str(ckpt_dir)) if cfg.trainer.resume == "auto" else None
    if latest is not None:
        recorded = ckpt_dir / IDENTITY
        if not recorded.is_file() or json.loads(recorded.read_text()) != json.loads(json.dumps(identity)):
            raise ConfigError(
                f"{ckpt_dir} holds a run with another config; use another hydra.run.dir or trainer.resume=never"
            )
        metrics, earlier = out_dir / METRICS, out_dir / EARLIER_METRICS
        if metrics.is_file():
            with earlier.open("a") as kept:
                kept.write(metrics.read_text())
            metrics.unlink()
        return int(Path(latest).name.split("global_step_")[-1])
    for name in (METRICS, EARLIER_METRICS):
        (out_dir / name).unlink(missing_ok=True)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / IDENTITY).write_text(json.dumps(identity, indent=1))
    return None


def logged_rows(out_dir: Path) -> list[dict]:
    """verl's logged rows of every part of the run, oldest first."""
    lines = []
    for name in (EARLIER_METRICS, METRICS):
        if (out_dir / name).is_file():
            lines += (out_dir / name).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
