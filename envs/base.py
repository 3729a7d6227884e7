"""The text-environment base all layerverl environments share.

A `TextEnv` is a `gymnasium.Env` whose observations and actions are plain strings. Subclasses write the
rules in three small methods (`_reset`, `_step`, `_admissible_actions`); the base adds what every env needs:
Text spaces that accept real text, seeding, the step limit, and an info dict that is rebuilt on every call.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import gymnasium as gym
from gymnasium import spaces

# Every printable code point below the surrogates, plus newline and tab: covers '›', '™', accents, CJK.
TEXT_CHARSET = "\n\t" + "".join(chr(c) for c in range(0x20, 0xD800))
MAX_OBSERVATION_CHARS = 100_000
MAX_ACTION_CHARS = 1_024

NOTHING_HAPPENS = "Nothing happens."


def text_space(max_length: int) -> spaces.Text:
    """A Text space that accepts the empty string and any ordinary text up to `max_length` characters.

    Building the charset tables takes tens of milliseconds, so envs get a shallow copy of one prototype:
    the tables are shared, the random generator is each env's own.
    """
    return copy.copy(_text_space_prototype(max_length))


@functools.cache
def _text_space_prototype(max_length: int) -> spaces.Text:
    return spaces.Text(max_length=max_length, min_length=0, charset=TEXT_CHARSET)


class TextEnv(gym.Env[str, str]):
    """Base class: string observations, string actions, standard info keys.

    Info keys on every reset/step: `admissible_actions` (a fresh list), `anchor` (the raw current
    observation without history, used by GiGPO to group identical states), `won` (bool), `task` (str),
    plus whatever `_extra_info()` adds. `max_steps` truncates the episode; `seed` seeds the first reset
    when `reset()` is called without one.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}  # fps only quiets check_env

    def __init__(self, max_steps: int = 50, seed: int | None = None, render_mode: str | None = None):
        if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
            raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.observation_space = text_space(MAX_OBSERVATION_CHARS)
        self.action_space = text_space(MAX_ACTION_CHARS)
        self._first_seed = seed
        self._observation = ""
        self._steps = 0
        self._won = False

    # -- what subclasses write ------------------------------------------------------------------------
    def _reset(self, options: dict[str, Any]) -> str:
        """Start a new episode from `self.np_random`; return the first observation."""
        raise NotImplementedError

    def _step(self, action: str) -> tuple[str, float, bool]:
        """Apply one action; return (observation, reward, won)."""
        raise NotImplementedError

    def _admissible_actions(self) -> list[str]:
        """The actions that change something in the current state."""
        raise NotImplementedError

    @property
    def task(self) -> str:
        """The natural-language task of the current episode."""
        raise NotImplementedError

    def _episode_over(self, won: bool) -> bool:
        """Whether the episode ended at this step (`terminated`); by default only a win ends it."""
        return won

    def _clean_action(self, action: Any) -> str:
        """The action as the rules see it; by default one line (see `clean_action`)."""
        return clean_action(action)

    def _anchor(self) -> str:
        """The state identity for GiGPO: by default the current observation text."""
        return self._observation

    def _extra_info(self) -> dict[str, Any]:
        """Env-specific info keys; must return fresh objects each call."""
        return {}

    # -- gymnasium API ------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        if seed is None and self._first_seed is not None:
            seed, self._first_seed = self._first_seed, None
        super().reset(seed=seed)
        self._steps = 0
        self._won = False
        self._observation = self._reset(dict(options or {}))
        return self._observation, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        self._observation, reward, won = self._step(self._clean_action(action))
        self._steps += 1
        self._won = self._won or won
        terminated = self._episode_over(won)
        truncated = not terminated and self._steps >= self.max_steps
        return self._observation, float(reward), bool(terminated), bool(truncated), self._info()

    def render(self) -> str | None:
        if self.render_mode == "human":
            print(self._observation)
            return None
        return self._observation

    def _info(self) -> dict[str, Any]:
        return {
            "admissible_actions": list(self._admissible_actions()),
            "anchor": self._anchor(),
            "won": self._won,
            "task": self.task,
            **self._extra_info(),
        }


def clean_action(action: Any) -> str:
    """Any model output as a one-line command: non-strings become '' and runs of whitespace one space."""
    if not isinstance(action, str):
        return ""
    return " ".join(action.split())
