"""Export an ALFWorld-style layout to a real ALFWorld game file (`game.tw-pddl`).

A layout is the initial state our `envs.alfworld` env reports (`env.unwrapped.layout()`): receptacles,
objects with their properties, the task and its goal sentence. The game file pairs the installed alfworld
package's own `alfred.pddl` domain and `alfred.twl2` grammar (goal substituted as alfworld's
`add_task_to_grammar` does) with a PDDL problem built from the layout, so the real engine plays the same
world. Entity ids are ALFRED-style (`fridge_bar__plus_98_...`) and chosen so that alfworld's `Demangler`
numbers them exactly as the layout does ("fridge 1", "fridge 2", ...).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

INSTALL_HINT = "pip install -e '.[alfworld]'"
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
# The receptacle type each treatment needs (alfred.pddl: CleanObject/HeatObject/CoolObject preconditions).
TREATMENT = {
    "pick_clean_then_place_in_recep": ("clean", "sinkbasin"),
    "pick_heat_then_place_in_recep": ("heat", "microwave"),
    "pick_cool_then_place_in_recep": ("cool", "fridge"),
}
OBJECT_PROPERTIES = ("pickupable", "cleanable", "heatable", "coolable", "toggleable")
START_LOCATION = "loc_bar_start"
_NAME = re.compile(r"^([a-z]+) ([1-9][0-9]?)$")


def alfworld_package_dir() -> Path:
    """The installed alfworld package folder, found without importing it (its import creates ~/.cache/alfworld)."""
    spec = importlib.util.find_spec("alfworld")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the real ALFWorld engine needs the alfworld package: {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def build_game(layout: Mapping[str, Any]) -> dict[str, Any]:
    """The `game.tw-pddl` JSON for `layout`, with a winning walkthrough from `plan_walkthrough`."""
    data_dir = alfworld_package_dir() / "data"
    grammar = (data_dir / "alfred.twl2").read_text()
    return {
        "pddl_domain": (data_dir / "alfred.pddl").read_text(),
        "grammar": grammar.replace("UNKNOWN GOAL", layout["goal"]),  # what add_task_to_grammar does
        "pddl_problem": pddl_problem(layout),
        "solvable": True,
        "walkthrough": plan_walkthrough(layout),
    }


def write_game(layout: Mapping[str, Any], directory: str | Path) -> Path:
    """Write `directory/game.tw-pddl` and the `traj_data.json` beside it; return the game's path.

    ALFWorld's loader and its handcoded expert read the task type and targets from `traj_data.json`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "traj_data.json").write_text(json.dumps(traj_data(layout)))
    path = directory / "game.tw-pddl"
    path.write_text(json.dumps(build_game(layout)))
    return path


def traj_data(layout: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ALFRED's `traj_data.json` that ALFWorld reads: task type and ALFRED class names of targets."""
    from alfworld.gen import constants

    task = layout["task"]
    alfred_class = constants.OBJECTS_LOWER_TO_UPPER
    return {
        "task_type": task["type"],
        "pddl_params": {
            "object_target": alfred_class[task["object"]],
            "parent_target": alfred_class[task["receptacle"]] if task["receptacle"] else "",
            "toggle_target": alfred_class[task["toggle"]] if task.get("toggle") else "",
            "mrecep_target": "",
            "object_sliced": False,
        },
    }


def pddl_problem(layout: Mapping[str, Any]) -> str:
    """The PDDL problem: one location per receptacle, the agent at a separate start location, the goal
    from the installed alfworld's goal library."""
    from alfworld.gen import constants, goal_library

    task = layout["task"]
    if task["type"] not in TASK_TYPES:
        raise ValueError(f"unknown task type {task['type']!r}; expected one of {', '.join(TASK_TYPES)}")
    receptacles, objects = layout["receptacles"], layout["objects"]
    ids = entity_ids(layout)
    location = {r["name"]: f"loc_bar_{i}" for i, r in enumerate(receptacles, start=1)}
    can_contain = {k.lower(): {o.lower() for o in v} for k, v in constants.VAL_RECEPTACLE_OBJECTS.items()}
    receptacle_objects = {t.lower() for t in constants.MOVABLE_RECEPTACLES}
    rtypes = sorted({r["type"] for r in receptacles} | {"sinkbasin", "microwave", "fridge"})
    otypes = sorted({o["type"] for o in objects} | {"knife", "butterknife", task["object"]})
    unknown = sorted({r["type"] for r in receptacles} - set(can_contain))
    if unknown:
        raise ValueError(
            f"receptacle types {unknown} are not ALFRED receptacles; known: {sorted(can_contain)}"
        )

    declared = ["agent1 - agent"]
    declared += [f"{t}Type - otype" for t in otypes if t not in rtypes]
    declared += [f"{t}Type - rtype" for t in rtypes]
    declared += [f"{ids[o['name']]} - object" for o in objects]
    declared += [f"{ids[r['name']]} - receptacle" for r in receptacles]
    declared += [f"{loc} - location" for loc in [START_LOCATION, *location.values()]]

    init = [f"(atLocation agent1 {START_LOCATION})"]
    for r in receptacles:
        init.append(f"(receptacleType {ids[r['name']]} {r['type']}Type)")
        init.append(f"(receptacleAtLocation {ids[r['name']]} {location[r['name']]})")
        if r["openable"]:
            init.append(f"(openable {ids[r['name']]})")
    for o in objects:
        object_id = ids[o["name"]]
        init.append(f"(objectType {object_id} {o['type']}Type)")
        init.append(f"(inReceptacle {object_id} {ids[o['receptacle']]})")
        init.append(f"(objectAtLocation {object_id} {location[o['receptacle']]})")
        init += [f"({prop} {object_id})" for prop in OBJECT_PROPERTIES if o[prop]]
        if o["type"] in receptacle_objects:  # ALFWorld's data marks mugs, bowls, pans... this way
            init.append(f"(isReceptacleObject {object_id})")
    init += [
        f"(canContain {rtype}Type {otype}Type)"
        for rtype in sorted({r["type"] for r in receptacles})
        for otype in sorted({o["type"] for o in objects})
        if otype in can_contain[rtype]
    ]
    goal = goal_library.gdict[task["type"]]["pddl"].format(
        obj=task["object"], recep=task["receptacle"], toggle=task.get("toggle") or ""
    )
    return "\n".join(
        [
            "(define (problem plan_layerverl)",
            "    (:domain alfred)",
            "    (:objects",
            *(f"        {line}" for line in declared),
            "    )",
            "    (:init",
            *(f"        {fact}" for fact in init),
            "    )",
            goal.replace("#", "-"),  # the goal library writes '#' for PDDL's '-' and closes the define
        ]
    )


def entity_ids(layout: Mapping[str, Any]) -> dict[str, str]:
    """Display name ("sinkbasin 2") -> ALFRED-style PDDL id that alfworld's Demangler names the same.

    The Demangler sorts ids and hands each class's numbers out from the top, so number n of a class gets
    the coordinate 99 - n (number 1 sorts last). Basin ids are `sink_bar_..._bar_sinkbasin`, as in ALFRED:
    the Demangler appends "basin" to the class of any id that contains it.
    """
    ids = {}
    for entity in [*layout["receptacles"], *layout["objects"]]:
        match = _NAME.match(entity["name"])
        if match is None or match.group(1) != entity["type"]:
            raise ValueError(
                f"entity name {entity['name']!r} is not '<type> <number>' for type {entity['type']!r}"
            )
        kind, number = match.group(1), int(match.group(2))
        if "basin" in kind and not kind.endswith("basin"):
            raise ValueError(f"type {kind!r} contains 'basin' but does not end with it")
        prefix, suffix = (kind[: -len("basin")], f"_bar_{kind}") if kind.endswith("basin") else (kind, "")
        ids[entity["name"]] = f"{prefix}_bar__plus_{99 - number:02d}_dot_00_bar__plus_00_dot_00{suffix}"
    return ids


def plan_walkthrough(layout: Mapping[str, Any]) -> list[str]:
    """A winning command sequence from the initial state: fetch the target object(s), treat, place or light."""
    task = layout["task"]
    openable = {r["name"] for r in layout["receptacles"] if r["openable"]}
    first_of = {}
    for r in layout["receptacles"]:
        first_of.setdefault(r["type"], r["name"])
    targets = [o for o in layout["objects"] if o["type"] == task["object"] and o["pickupable"]]
    plan: list[str] = []
    state = {"at": None, "opened": set()}

    def visit(receptacle: str, need_open: bool) -> None:
        if state["at"] != receptacle:
            plan.append(f"go to {receptacle}")
            state["at"] = receptacle
        if need_open and receptacle in openable and receptacle not in state["opened"]:
            plan.append(f"open {receptacle}")
            state["opened"].add(receptacle)

    count = 2 if task["type"] == "pick_two_obj_and_place" else 1
    for target in targets[:count]:
        visit(target["receptacle"], need_open=True)
        plan.append(f"take {target['name']} from {target['receptacle']}")
        if task["type"] in TREATMENT:
            verb, rtype = TREATMENT[task["type"]]
            visit(first_of[rtype], need_open=False)
            plan.append(f"{verb} {target['name']} with {first_of[rtype]}")
        if task["type"] == "look_at_obj_in_light":
            lamp = next(o for o in layout["objects"] if o["type"] == task["toggle"])
            visit(lamp["receptacle"], need_open=False)
            plan.append(f"use {lamp['name']}")
        else:
            destination = first_of[task["receptacle"]]
            visit(destination, need_open=True)
            plan.append(f"move {target['name']} to {destination}")
    return plan
