"""The real ALFWorld engine (alfworld 0.4.x on TextWorld's PDDL backend) behind layerverl's text-env interface.

Optional: needs the `alfworld` extra and game files. textworld and alfworld are imported when an env is
built, never when `envs` is imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from envs.alfworld.game_files import INSTALL_HINT, TASK_TYPES, alfworld_package_dir
from envs.base import TextEnv

SPLITS = ("train", "valid_seen", "valid_unseen")
DATA_VERSION = "json_2.1.1"
TASK_PREFIX = "Your task is to: "


class RealALFWorldEnv(TextEnv):
    """Real ALFWorld games played by alfworld's own engine, with the same interface as `envs.make("alfworld")`.

    ## Description
    Each episode loads one ALFWorld game file (`game.tw-pddl`) into TextWorld's PDDL engine with alfworld's
    `AlfredDemangler(shuffle=False)` and `AlfredInfos` wrappers, exactly as ALFWorld's `AlfredTWEnv` does
    for evaluation. Use it to check our pure-Python env against the original, or to evaluate on real data.

    ## Action Space
    `spaces.Text`: one ALFWorld command, e.g. `"go to fridge 1"`, `"move apple 1 to fridge 1"`.
    Anything the engine cannot apply gives `"Nothing happens."`.

    ## Observation Space
    `spaces.Text`: the engine's feedback. The first observation is the intro, e.g.
    `"-= Welcome to TextWorld, ALFRED! =-\\n\\nYou are in the middle of a room. Looking quickly around you, you
    see a cabinet 1, a fridge 1, and a sinkbasin 1.\\n\\nYour task is to: put a clean apple in fridge."`

    ## Starting State
    `reset(seed=s)` picks one game with `self.np_random`; `options={"gamefile": path}` picks it explicitly.

    ## Reward
    1.0 on the step that wins, 0.0 otherwise.

    ## Episode End
    `terminated` when the goal holds; `truncated` after `max_steps` steps (default 50, as in ALFWorld).

    ## Information
    `admissible_actions` (TextWorld's sorted admissible commands), `anchor`, `won`, `task` (the goal sentence
    without its period), `task_type` (from the game's `traj_data.json`, "" without one), `gamefile`.

    ## Arguments
    `envs.make("alfworld_real", split="valid_unseen")` reads `$ALFWORLD_DATA/json_2.1.1/valid_unseen`
    (default `~/.cache/alfworld`), keeping games as ALFWorld does (no 'movable'/'Sliced' paths, `solvable`).
    `gamefiles=[...]` plays the given game files instead. `expert=True` adds alfworld's handcoded expert
    (`AlfredExpert`), read with `env.unwrapped.expert_action()`; it needs `traj_data.json` beside each game.

    ## Version History
    * v0: alfworld 0.4.2, textworld 1.7.0.
    """

    def __init__(
        self,
        split: str = "train",
        gamefiles: list[str | os.PathLike] | None = None,
        expert: bool = False,
        max_steps: int = 50,
        seed: int | None = None,
        render_mode: str | None = None,
    ):
        super().__init__(max_steps=max_steps, seed=seed, render_mode=render_mode)
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.gamefiles = [str(path) for path in gamefiles] if gamefiles is not None else find_gamefiles(split)
        if not self.gamefiles:
            raise ValueError("gamefiles is empty: pass at least one game.tw-pddl path")
        self.expert = expert
        self._engine = _open_engine(self.gamefiles, expert)
        self._gamefile = ""
        self._loaded = ""
        self._task_type = ""
        self._engine_infos: dict[str, Any] = {}
        self._task = ""

    @property
    def task(self) -> str:
        return self._task

    def expert_action(self) -> str:
        """The handcoded expert's next command (needs `expert=True`)."""
        if not self.expert:
            raise RuntimeError("expert_action() needs RealALFWorldEnv(expert=True)")
        return self._engine_infos["extra.expert_plan"][0]

    def _reset(self, options: dict[str, Any]) -> str:
        self._gamefile = str(
            options.get("gamefile") or self.gamefiles[self.np_random.integers(len(self.gamefiles))]
        )
        if self._gamefile != self._loaded:  # parsing a game costs ~0.3 s; resetting a loaded one is cheaper
            self._engine.load([self._gamefile])
            self._loaded = self._gamefile
            self._task_type = task_type_of(self._gamefile)
        observations, infos = self._engine.reset()
        self._engine_infos = {key: values[0] for key, values in infos.items()}
        observation = observations[0]
        self._task = observation.rpartition(TASK_PREFIX)[2].rstrip(".")
        return observation

    def _step(self, action: str) -> tuple[str, float, bool]:
        observations, _, _, infos = self._engine.step([action])
        self._engine_infos = {key: values[0] for key, values in infos.items()}
        won = bool(self._engine_infos["won"])
        return observations[0], float(won and not self._won), won

    def _admissible_actions(self) -> list[str]:
        return list(self._engine_infos.get("admissible_commands", []))

    def _extra_info(self) -> dict[str, Any]:
        return {"task_type": self._task_type, "gamefile": self._gamefile}

    def close(self) -> None:
        self._engine.close()


def find_gamefiles(split: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """Sorted game files of an ALFWorld split, filtered as `AlfredTWEnv.collect_game_files` does."""
    root = Path(data_dir or os.environ.get("ALFWORLD_DATA") or Path.home() / ".cache" / "alfworld")
    split_dir = root / DATA_VERSION / split
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"no ALFWorld data at {split_dir}: set ALFWORLD_DATA to the folder holding {DATA_VERSION}/ "
            "(alfworld-download fetches it), or pass gamefiles=[...]"
        )
    gamefiles = []
    for traj_path in sorted(split_dir.rglob("traj_data.json")):
        game_path = traj_path.with_name("game.tw-pddl")
        if "movable" in str(traj_path.parent) or "Sliced" in str(traj_path.parent) or not game_path.exists():
            continue
        if task_type_of(str(game_path)) in TASK_TYPES and json.loads(game_path.read_text()).get("solvable"):
            gamefiles.append(str(game_path))
    if not gamefiles:
        raise FileNotFoundError(f"no solvable ALFWorld games under {split_dir}: re-run alfworld-download")
    return gamefiles


def task_type_of(gamefile: str) -> str:
    """The task type recorded in the `traj_data.json` beside a game file ("" when there is none)."""
    traj_path = Path(gamefile).with_name("traj_data.json")
    return json.loads(traj_path.read_text())["task_type"] if traj_path.exists() else ""


def _open_engine(gamefiles: list[str], expert: bool) -> Any:
    """TextWorld's batch env (size 1, in-process) over `gamefiles` with ALFWorld's wrappers."""
    alfworld_package_dir()  # raises the install hint when alfworld is missing
    try:
        import fast_downward  # noqa: F401  (TextWorld's PDDL engine; alfworld's dependency)
        import textworld
        import textworld.gym
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredExpert, AlfredInfos
    except ImportError as exc:
        raise ImportError(f"the real ALFWorld engine failed to import ({exc}): {INSTALL_HINT}") from exc

    request_infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
    wrappers = [AlfredDemangler(shuffle=False), AlfredInfos]
    if expert:
        wrappers.append(AlfredExpert())
        request_infos.extras.append("expert_plan")
    env_id = textworld.gym.register_games(
        gamefiles, request_infos, batch_size=1, asynchronous=False, max_episode_steps=None, wrappers=wrappers
    )
    # Game choice is ours (seeded); TextWorld's gym env only builds the wrapped engine, its batch_env.
    return textworld.gym.make(env_id).batch_env
