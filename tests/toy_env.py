"""A minimal TextEnv for testing the shared machinery (registry, base, batch runner, play mode)."""

from __future__ import annotations

import os

from envs.base import NOTHING_HAPPENS, TextEnv


class CounterEnv(TextEnv):
    """Reach `target` by saying "up" / "down"; the start value comes from the seed."""

    def __init__(self, target: int = 3, max_steps: int = 10, close_log: str | None = None, **kw):
        super().__init__(max_steps=max_steps, **kw)
        self.target = target
        self.value = 0
        self.close_log = close_log  # a file that gets the closing process's pid, one line per close

    def close(self) -> None:
        if self.close_log:
            with open(self.close_log, "a") as log:
                log.write(f"{os.getpid()}\n")
        super().close()

    @property
    def task(self) -> str:
        return f"reach {self.target}"

    def _reset(self, options):
        self.value = int(options.get("start", self.np_random.integers(0, 3)))
        return f"value {self.value}"

    def _step(self, action):
        if action not in ("up", "down"):
            return NOTHING_HAPPENS, 0.0, False
        self.value += 1 if action == "up" else -1
        won = self.value == self.target
        return f"value {self.value}", float(won), won

    def _admissible_actions(self):
        return ["down", "up"]

    def expert_action(self) -> str:
        return "up" if self.value < self.target else "down"
