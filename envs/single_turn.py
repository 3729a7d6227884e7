"""Single-turn tasks as one-step text environments: a dataset row in, a scored response out.

`SingleTurnTaskEnv` is what `MathTaskEnv` and `CodeTaskEnv` share: the observation is the problem prompt,
the action is the model's whole response (kept verbatim: code needs its newlines), the reward is
`envs.rewards.compute_score`, and the episode ends after one step. `load_records` reads user data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.base import TextEnv, text_space
from envs.rewards import compute_score

MAX_RESPONSE_CHARS = 100_000
RECORD_SUFFIXES = (".jsonl", ".json", ".parquet")
TASK_ORDERS = (
    "random",
    "by_seed",
)  # by_seed: reset(seed=s) poses task s % len(tasks), so N seeds cover N tasks


def load_records(path: str | Path, split: str = "train") -> list[dict[str, Any]]:
    """Rows from a .jsonl/.json/.parquet file or a `datasets.save_to_disk` directory (its `split`)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"dataset path {str(path)!r} does not exist")
    if path.is_dir():
        try:
            import datasets
        except ImportError as exc:
            raise ValueError(
                f"{str(path)!r} is a directory: reading it needs the `datasets` package"
            ) from exc
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ValueError(f"split {split!r} not in {str(path)!r}; splits: {sorted(loaded)}")
            loaded = loaded[split]
        return [dict(row) for row in loaded]
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if path.suffix == ".json":
        rows = json.loads(path.read_text())
        return rows if isinstance(rows, list) else rows[split]
    if path.suffix == ".parquet":
        import pandas

        return pandas.read_parquet(path).to_dict(orient="records")
    raise ValueError(
        f"unsupported dataset file {str(path)!r}; use one of {RECORD_SUFFIXES} or a datasets directory"
    )


def prompt_text(prompt: Any) -> str:
    """A prompt field as plain text: a string, or the last user message of a chat list (verl parquet)."""
    if isinstance(prompt, str):
        return prompt
    messages = [m for m in list(prompt) if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"] or messages
    return str(users[-1].get("content", "")) if users else ""


class SingleTurnTaskEnv(TextEnv):
    """Base of one-step task envs; subclasses fill `self.tasks` with dicts holding `prompt`, `ground_truth`,
    `extra_info` and set `data_source`. `reset(options={"index": i})` picks task i, else a random one, or with
    `task_order="by_seed"` task `seed % len(tasks)` (an evaluation of N seeds then sees N distinct tasks).
    `info["free_form"]` tells the rollout to pass the whole response, not an <action>."""

    def __init__(
        self,
        tasks: list[dict[str, Any]],
        data_source: str,
        reward_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        render_mode: str | None = None,
        task_order: str = "random",
    ):
        super().__init__(max_steps=1, seed=seed, render_mode=render_mode)
        if not tasks:
            raise ValueError(f"{type(self).__name__} got an empty dataset")
        self.action_space = text_space(MAX_RESPONSE_CHARS)
        if task_order not in TASK_ORDERS:
            raise ValueError(f"task_order must be one of {TASK_ORDERS}, got {task_order!r}")
        self.tasks = tasks
        self.task_order = task_order
        self.data_source = data_source
        self.reward_kwargs = dict(reward_kwargs or {})
        self._task_index = 0
        self._reset_seed: int | None = None
        self._reward_details: dict[str, Any] = {}

    @property
    def task(self) -> str:
        return self.tasks[self._task_index]["prompt"]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        self._reset_seed = seed  # what `task_order="by_seed"` indexes by
        return super().reset(seed=seed, options=options)

    def _reset(self, options: dict[str, Any]) -> str:
        index = options.get("index")
        if index is None and self.task_order == "by_seed" and self._reset_seed is not None:
            index = self._reset_seed % len(self.tasks)
        if index is None:
            index = int(self.np_random.integers(len(self.tasks)))
        if not 0 <= int(index) < len(self.tasks):
            raise ValueError(f"options['index'] must be in [0, {len(self.tasks)}), got {index!r}")
        self._task_index = int(index)
        self._reward_details = {}
        return self.task

    def _clean_action(self, action: object) -> str:
        """The whole response, newlines kept (code needs them); unlike multi-turn envs, not one line."""
        return action.replace("\x00", "") if isinstance(action, str) else ""

    def _episode_over(self, won: bool) -> bool:
        return True  # one response per task

    def _step(self, action: str) -> tuple[str, float, bool]:
        row = self.tasks[self._task_index]
        out = compute_score(
            self.data_source,
            action,
            row["ground_truth"],
            dict(row.get("extra_info") or {}),
            **self.reward_kwargs,
        )
        self._reward_details = out if isinstance(out, dict) else {"score": float(out), "acc": float(out)}
        score = float(self._reward_details["score"])
        return f"Your response scored {score:g}.", score, float(self._reward_details.get("acc", 0.0)) >= 1.0

    def _admissible_actions(self) -> list[str]:
        return []

    def _anchor(self) -> str:
        return self.task

    def _extra_info(self) -> dict[str, Any]:
        return {
            "free_form": True,
            "data_source": self.data_source,
            "task_index": self._task_index,
            "score": float(self._reward_details.get("score", 0.0)),
            "answer": self._reward_details.get("pred") or None,  # the final answer the reward extracted
            "reward_details": dict(self._reward_details),
        }
