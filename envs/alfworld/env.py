"""ALFWorld-style household tasks, offline and pure Python, with alfworld 0.4's text and command grammar."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

from envs.alfworld.expert import expert_plan, search_action
from envs.alfworld.rules import Effect, commands, intro, normalize_command, static_commands
from envs.alfworld.world import (
    MAX_TASKS_PER_SPLIT,
    MIN_RECEPTACLES,
    SPLIT_SIZES,
    SPLITS,
    TASK_TYPES,
    TRANSFORMABLE,
    World,
    generate_world,
    goal_met,
    goal_sentence,
    listing_key,
)
from envs.base import NOTHING_HAPPENS, TextEnv

__all__ = ["SPLIT_SIZES", "SPLITS", "TASK_TYPES", "ALFWorldEnv"]


class ALFWorldEnv(TextEnv):
    """ALFWorld's TextWorld household tasks, generated procedurally and played without the alfworld package.

    ## Description
    The agent is in one room (kitchen, living room, bedroom or bathroom, laid out from ALFRED floorplans
    with ALFRED receptacle and object classes) and must reach a goal of one of ALFWorld's six task types:
    `pick_and_place_simple`, `look_at_obj_in_light`, `pick_clean_then_place_in_recep`,
    `pick_heat_then_place_in_recep`, `pick_cool_then_place_in_recep`, `pick_two_obj_and_place`.
    Goals read exactly as ALFWorld's templates (one of two per type, picked with the env RNG), e.g.
    "clean some apple and put it in fridge". Win conditions are ALFWorld's PDDL goals; for light tasks the
    agent must hold the object where a switched-on lamp of the named class stands.

    ## Action Space
    A string (`spaces.Text`, up to 1024 characters), matched case-insensitively after whitespace is
    collapsed: `go to {recep}`, `open {recep}`, `close {recep}`, `take {obj} from {recep}`,
    `move {obj} to {recep}`, `use {lamp}`, `heat {obj} with {recep}`, `clean {obj} with {recep}`,
    `cool {obj} with {recep}`, `slice {obj} with {obj}`, `inventory`, `look`, `examine {obj|recep}`, `help`.
    Names are `<lowercase ALFRED class> <n>` ("sinkbasin 1"). Anything that does not apply in the current
    state, and any other string, gives "Nothing happens." and changes nothing. As in alfworld 0.4.2: the
    hands hold one object; `go to` leads to another receptacle; take and move need an openable receptacle
    to be open; `examine` works on the receptacle the agent is at and on the held object only; clean needs
    a sinkbasin, heat a microwave and cool a fridge (neither needs opening); `use` switches a lamp at the
    agent's receptacle on. No object here is sliceable, so `slice` always gives "Nothing happens.". The
    pre-0.4 `put {obj} in/on {recep}` works only with `legacy_put=True`. Every admissible command's
    text, and the admissible list itself, matched the real engine on exported games (`envs.alfworld.game_files`).

    ## Observation Space
    A string (`spaces.Text`), alfworld's feedback verbatim. The first observation:

        -= Welcome to TextWorld, ALFRED! =-

        You are in the middle of a room. Looking quickly around you, you see a countertop 1, a fridge 1, a microwave 1, and a sinkbasin 1.

        Your task is to: clean some apple and put it in fridge.

    Feedback to each command, for example:

        go to countertop 1      You arrive at countertop 1. On the countertop 1, you see a apple 1.
        go to fridge 1          You arrive at fridge 1. The fridge 1 is closed.
        open fridge 1           You open the fridge 1. The fridge 1 is open. In it, you see nothing.
        close fridge 1          You close the fridge 1.
        take apple 1 from countertop 1    You pick up the apple 1 from the countertop 1.
        move apple 1 to fridge 1          You move the apple 1 to the fridge 1.
        clean apple 1 with sinkbasin 1    You clean the apple 1 using the sinkbasin 1.
        use desklamp 1          You turn on the desklamp 1.
        inventory               You are carrying: a apple 1.  /  You are not carrying anything.
        examine apple 1 (held)  This is a clean apple 1.  /  There's nothing special about apple 1.
        examine mug 1 (held)    This is a normal mug 1. In it, you see nothing.   (bowl, box, cup, mug,
                                pan, plate and pot are ALFRED's movable receptacles)
        look                    You are facing the countertop 1. Next to it, you see nothing.
        anything else           Nothing happens.

    As in alfworld 0.4.2, lists go by class and, within a class, from the highest number down ("a cabinet
    2, a cabinet 1"); `look` before the first `go to` lists nothing; `help` lists the commands; there is
    no "You won!" line.

    ## Starting State
    The agent stands in the middle of the room holding nothing; every openable receptacle (cabinet,
    drawer, fridge, microwave, safe) is closed; no object is clean, hot, cool or switched on; no object of
    the goal class starts in a receptacle of the goal's class.

    ## Reward
    `reward_scale` (10.0, as verl-agent) on the step that reaches the goal, 0 otherwise.

    ## Episode End
    Terminated when the goal is reached; truncated after `max_steps` (50) actions.

    ## Information
    `admissible_actions` (sorted list of the commands that apply, always with `help`, `inventory` and
    `look`), `anchor` (the observation), `won`, `task` (the goal sentence), `task_type`, `gamefile`
    (`pick_clean_then_place_in_recep-Apple-None-Fridge-12/trial_1000007`: type, ALFRED classes, floorplan
    number, generator seed) and, with `expert_plan_in_info=True`, `expert_plan` (the expert's remaining
    commands; opt-in as in ALFWorld, since planning every step halves the steps per second).
    `env.unwrapped.expert_action()` is the expert's next command (always admissible, wins every task);
    `env.unwrapped.layout()` describes the episode's initial state as a dict with keys `scene`,
    `receptacles` (name/type/openable, in intro order), `objects` (name/type/receptacle and the
    cleanable/heatable/coolable/toggleable/pickupable flags), `task` (type/object/receptacle/toggle)
    and `goal` (the goal sentence without its period).

    ## Arguments
        envs.make("alfworld", split="valid_unseen", task_types=["pick_and_place_simple"],
                  num_receptacles=6, num_distractors=3)        # or gymnasium.make("layerverl/ALFWorld-v0")
    - `split`: "train" | "valid_seen" | "valid_unseen", disjoint generator-seed ranges. valid_unseen uses
      ALFRED floorplans (the last 5 of each room kind) and (room, object, receptacle/lamp) combinations that
      train and valid_seen never produce.
    - `num_tasks`: tasks in the split (default `SPLIT_SIZES`: 3553, 140, 134 as ALFWorld). `reset(seed=s)`
      plays task `s % num_tasks`; `options={"task_index": i}` picks one; a reset without a seed draws one.
    - `task_types`: the task types to draw from (default all six).
    - `num_receptacles`: keep this many of the floorplan's receptacles (>= 4, the ones the task needs
      always among them); default None keeps the whole floorplan (about 10 to 30).
    - `num_distractors`: objects besides the goal objects and the lamp; default None draws between half and
      all of the receptacle count, like ALFWorld's clutter.
    - `reward_scale` (10.0), `max_steps` (50), `legacy_put` (False), `expert_plan_in_info` (False), `seed`,
      `render_mode` (None, "ansi" or "human").

    ## Version History
    - v0: initial release (alfworld 0.4 grammar and text).
    """

    def __init__(
        self,
        split: str = "train",
        max_steps: int = 50,
        seed: int | None = None,
        render_mode: str | None = None,
        reward_scale: float = 10.0,
        task_types: Sequence[str] | None = None,
        num_receptacles: int | None = None,
        num_distractors: int | None = None,
        num_tasks: int | None = None,
        legacy_put: bool = False,
        expert_plan_in_info: bool = False,
    ):
        super().__init__(
            max_steps=max_steps, seed=_check_optional_int("seed", seed, 0), render_mode=render_mode
        )
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if (
            isinstance(reward_scale, bool)
            or not isinstance(reward_scale, (int, float))
            or not math.isfinite(reward_scale)
            or reward_scale <= 0
        ):
            raise ValueError(f"reward_scale must be a finite number > 0, got {reward_scale!r}")
        self.split = split
        self.reward_scale = float(reward_scale)
        self.task_types = _check_task_types(task_types)
        self.num_receptacles = _check_optional_int("num_receptacles", num_receptacles, MIN_RECEPTACLES)
        self.num_distractors = _check_optional_int("num_distractors", num_distractors, 0)
        self.num_tasks = (
            _check_optional_int("num_tasks", num_tasks, 1, MAX_TASKS_PER_SPLIT) or SPLIT_SIZES[split]
        )
        for name, flag in (("legacy_put", legacy_put), ("expert_plan_in_info", expert_plan_in_info)):
            if not isinstance(flag, bool):
                raise ValueError(f"{name} must be True or False, got {flag!r}")
        self.legacy_put = legacy_put
        self.expert_plan_in_info = expert_plan_in_info
        self._world: World | None = None
        self._layout: dict[str, Any] = {}
        self._goal = ""
        self._static: dict[str, Effect] = {}
        self._commands: dict[str, Effect] = {}
        self._admissible: list[str] = []
        self._plan: list[str] | None = None
        self._last_rng = None

    @property
    def task(self) -> str:
        return self._goal

    def layout(self) -> dict[str, Any]:
        """The current episode's initial state (the contract the real-engine adapter builds games from)."""
        self._require_world()
        layout = self._layout
        return {
            **layout,
            "receptacles": [dict(recep) for recep in layout["receptacles"]],
            "objects": [dict(obj) for obj in layout["objects"]],
            "task": dict(layout["task"]),
        }

    def expert_action(self) -> str:
        """The planner expert's next command, admissible in the current state ("look" once the goal holds)."""
        plan = self._expert_plan()
        return plan[0] if plan else "look"

    def search_action(self) -> str:
        """The searcher's next command: finds the goal object by looking, from what the prompt shows."""
        return search_action(self._require_world())

    # -- TextEnv hooks ------------------------------------------------------------------------------------
    def _reset(self, options: dict[str, Any]) -> str:
        unknown = sorted(set(options) - {"task_index"})
        if unknown:
            raise ValueError(f"unknown reset options {unknown}; valid options: ['task_index']")
        # a seeded reset makes a new generator: then the seed picks the task, otherwise the RNG draws one
        seeded, self._last_rng = self.np_random is not self._last_rng, self.np_random
        if "task_index" in options:
            task_index = _check_task_index(options["task_index"], self.num_tasks)
        elif seeded:
            task_index = self.np_random_seed % self.num_tasks
        else:
            task_index = int(self.np_random.integers(self.num_tasks))
        world = generate_world(
            self.split, task_index, self.task_types, self.num_receptacles, self.num_distractors
        )
        self._goal = goal_sentence(world.task, int(self.np_random.integers(2)))
        self._world = world
        self._layout = _layout(world, self._goal)
        self._static = static_commands(world)
        self._refresh_commands()
        return intro(world, self._goal)

    def _step(self, action: str) -> tuple[str, float, bool]:
        world = self._require_world()
        effect = self._commands.get(normalize_command(action, self.legacy_put))
        if effect is None:
            return NOTHING_HAPPENS, 0.0, self._won
        rule, arguments = effect
        observation = rule(world, *arguments)
        self._refresh_commands()
        won = goal_met(world)
        return observation, self.reward_scale if won and not self._won else 0.0, won

    def _admissible_actions(self) -> list[str]:
        return list(self._admissible)

    def _extra_info(self) -> dict[str, Any]:
        world = self._require_world()
        info = {"task_type": world.task.kind, "gamefile": world.gamefile}
        if self.expert_plan_in_info:  # opt-in, as ALFWorld's AlfredExpert wrapper: planning doubles step time
            info["expert_plan"] = list(self._expert_plan())
        return info

    # -- helpers ------------------------------------------------------------------------------------------
    def _refresh_commands(self) -> None:
        """After a state change: recompute the commands that apply (the admissible actions); replan lazily."""
        self._commands = commands(self._require_world(), self._static)
        self._admissible = sorted(self._commands)
        self._plan = None

    def _expert_plan(self) -> list[str]:
        """The expert's plan for the current state, computed once per state (callers copy it)."""
        if self._plan is None:
            self._plan = expert_plan(self._require_world())
        return self._plan

    def _require_world(self) -> World:
        if self._world is None:
            raise RuntimeError("ALFWorldEnv: call reset() before step(), layout() or expert_action()")
        return self._world


def _layout(world: World, goal: str) -> dict[str, Any]:
    """The initial-state description shared with the real-engine adapter (receptacles in intro order)."""
    items = world.items.values()
    return {
        "scene": world.scene,
        "receptacles": [
            {"name": recep.name, "type": recep.kind, "openable": recep.openable}
            for recep in sorted(world.receptacles.values(), key=lambda recep: listing_key(recep.name))
        ],
        "objects": [
            {
                "name": item.name,
                "type": item.kind,
                "receptacle": item.location,
                "cleanable": item.kind in TRANSFORMABLE["is_clean"],
                "heatable": item.kind in TRANSFORMABLE["is_hot"],
                "coolable": item.kind in TRANSFORMABLE["is_cool"],
                "toggleable": item.toggleable,
                "pickupable": not item.toggleable,
            }
            for item in items
        ],
        "task": {
            "type": world.task.kind,
            "object": world.task.object,
            "receptacle": world.task.receptacle,
            "toggle": world.task.toggle,
        },
        "goal": goal,
    }


def _check_task_types(task_types: Sequence[str] | None) -> tuple[str, ...]:
    """The task types to draw from, validated (None means all six)."""
    if task_types is None:
        return TASK_TYPES
    if isinstance(task_types, str) or not isinstance(task_types, Sequence) or not task_types:
        raise ValueError(
            f"task_types must be None or a non-empty list of {list(TASK_TYPES)}, got {task_types!r}"
        )
    unknown = [t for t in task_types if t not in TASK_TYPES]
    if unknown:
        raise ValueError(f"task_types has unknown types {unknown}; valid types: {list(TASK_TYPES)}")
    return tuple(task_types)


def _check_optional_int(name: str, value: Any, low: int, high: int | None = None) -> int | None:
    """None, or an int in [low, high]; anything else raises naming the argument and the valid range."""
    if value is None:
        return None
    bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        raise ValueError(f"{name} must be None or an int {bounds}, got {value!r}")
    return value


def _check_task_index(value: Any, num_tasks: int) -> int:
    """The reset option `task_index` as an int in [0, num_tasks)."""
    try:
        index = operator.index(value)
    except TypeError:
        index = -1
    if isinstance(value, bool) or not 0 <= index < num_tasks:
        raise ValueError(f"options['task_index'] must be an int in [0, {num_tasks}), got {value!r}")
    return index
