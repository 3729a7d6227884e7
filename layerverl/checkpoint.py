"""Checkpoints of a run: the trained parameters, optimizer, RNG states and iteration, written atomically."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

LATEST = "latest.pt"


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Write `state` plus every RNG state to `directory/latest.pt` (temp file + rename: never half-written)."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        **state,
        "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
    }
    path = directory / LATEST
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The latest checkpoint in `directory` with the RNG states restored, or None when there is none."""
    path = directory / LATEST
    if not path.exists():
        return None
    state = torch.load(path, weights_only=False)
    random.setstate(state["rng"]["python"])
    np.random.set_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"])
    return state
