"""Where per-iteration metrics go: metrics.jsonl (always), TensorBoard (always), W&B (when a project is set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class MetricsLogger:
    """Appends one JSON object per iteration and mirrors the numbers to TensorBoard / W&B.

    `history` is what a resumed run already logged; the file is rewritten to exactly that, so a run
    killed after its last checkpoint does not keep the iterations it will redo.
    """

    def __init__(
        self,
        out_dir: Path,
        history: list[dict[str, Any]],
        wandb_project: str | None = None,
        run_name: str = "",
        config: dict | None = None,
    ):
        from torch.utils.tensorboard import SummaryWriter

        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / "metrics.jsonl"
        self.path.write_text("".join(json.dumps(row, default=float) + "\n" for row in history))
        self.tensorboard = SummaryWriter(str(out_dir / "tensorboard"))
        self.wandb = None
        if wandb_project:
            import wandb

            self.wandb = wandb.init(project=wandb_project, name=run_name, config=config, dir=str(out_dir))

    def log(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row, default=float) + "\n")
        step = row["iteration"]
        for key, value in row.items():
            if isinstance(value, (int, float)) and key != "iteration":
                self.tensorboard.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log(row, step=step)

    def histogram(self, name: str, values, step: int) -> None:
        """A distribution (e.g. step-group sizes) for TensorBoard's histogram tab."""
        self.tensorboard.add_histogram(name, values, step)

    def close(self) -> None:
        self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()
