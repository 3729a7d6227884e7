"""ALFWorld-style worlds: the episode state, task types and goals, splits, and procedural task generation.

Everything here is plain data and pure functions over `envs.alfworld.tables`, so the env and its expert
read one source of truth. A task is a function of (split, task index, difficulty knobs) only; iteration over
sets never decides an outcome, so generation does not depend on PYTHONHASHSEED.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from envs.alfworld.tables import (
    ALFRED_NAMES,
    CAN_CONTAIN,
    CLEANABLE,
    COOLABLE,
    FLOORPLAN_OFFSETS,
    FLOORPLANS_PER_ROOM,
    HEATABLE,
    LAMP_HOLDERS,
    LAMPS,
    OPENABLE,
    ROOM_LAMPS,
    ROOM_OBJECTS,
    ROOM_RECEPTACLES,
)

# -- tasks --------------------------------------------------------------------------------------------------
TASK_TYPES = (
    "pick_and_place_simple", "look_at_obj_in_light", "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep", "pick_cool_then_place_in_recep", "pick_two_obj_and_place",
)  # fmt: skip
LIGHT, TWO = "look_at_obj_in_light", "pick_two_obj_and_place"
# task type -> (state flag the goal object needs, the receptacle class that sets it, its command verb)
TRANSFORMS = {
    "pick_clean_then_place_in_recep": ("is_clean", "sinkbasin", "clean"),
    "pick_heat_then_place_in_recep": ("is_hot", "microwave", "heat"),
    "pick_cool_then_place_in_recep": ("is_cool", "fridge", "cool"),
}
TRANSFORMABLE = {"is_clean": CLEANABLE, "is_hot": HEATABLE, "is_cool": COOLABLE}
GOAL_TEMPLATES = {
    "pick_and_place_simple": ("put a {obj} in {recep}", "put some {obj} on {recep}"),
    "look_at_obj_in_light": ("look at {obj} under the {toggle}", "examine the {obj} with the {toggle}"),
    "pick_clean_then_place_in_recep": (
        "put a clean {obj} in {recep}",
        "clean some {obj} and put it in {recep}",
    ),
    "pick_heat_then_place_in_recep": ("put a hot {obj} in {recep}", "heat some {obj} and put it in {recep}"),
    "pick_cool_then_place_in_recep": ("put a cool {obj} in {recep}", "cool some {obj} and put it in {recep}"),
    "pick_two_obj_and_place": ("put two {obj} in {recep}", "find two {obj} and put them in {recep}"),
}

# -- splits: disjoint seed ranges; valid_unseen alone uses unseen floorplans and held-out combinations ------
SPLITS = ("train", "valid_seen", "valid_unseen")
SPLIT_SIZES = {"train": 3553, "valid_seen": 140, "valid_unseen": 134}  # ALFWorld's game counts
MAX_TASKS_PER_SPLIT = 1_000_000
SPLIT_SEED_BASE = {split: i * MAX_TASKS_PER_SPLIT for i, split in enumerate(SPLITS)}
UNSEEN_FLOORPLANS_PER_ROOM = 5  # the last five floorplans of each room kind appear only in valid_unseen
HELD_OUT_ONE_IN = 5  # about one (room, object, receptacle-or-lamp) combination in five is held out
MIN_RECEPTACLES = 4  # the most a task needs: 3 sources + target, or 2 sources + appliance + target


@dataclass(slots=True)
class Receptacle:
    """A receptacle in the room; each one is its own location."""

    name: str
    kind: str
    openable: bool
    is_open: bool = False
    contents: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Item:
    """An ALFRED object; `location` is its receptacle's name, or None while the agent holds it."""

    name: str
    kind: str
    location: str | None
    is_clean: bool = False
    is_hot: bool = False
    is_cool: bool = False
    is_toggled: bool = False

    @property
    def toggleable(self) -> bool:
        return self.kind in LAMPS


@dataclass(frozen=True)
class Task:
    """The goal: `receptacle` is the target class (None for light tasks), `toggle` the lamp class."""

    kind: str
    object: str
    receptacle: str | None
    toggle: str | None


@dataclass
class World:
    """The full state of one episode; receptacles and items in alfworld's listing order (see `listing_key`)."""

    scene: str
    room: str
    seed: int
    task: Task
    receptacles: dict[str, Receptacle]
    items: dict[str, Item]
    agent_at: str | None = None
    holding: str | None = None

    @cached_property
    def receptacle_order(self) -> dict[str, int]:
        """Each receptacle's position in the intro (receptacles never change within an episode)."""
        return {name: i for i, name in enumerate(self.receptacles)}

    @cached_property
    def receptacles_by_kind(self) -> dict[str, list[str]]:
        """Receptacle names per class, in intro order."""
        by_kind: dict[str, list[str]] = {}
        for recep in self.receptacles.values():
            by_kind.setdefault(recep.kind, []).append(recep.name)
        return by_kind

    @property
    def gamefile(self) -> str:
        """An ALFWorld-like game path that encodes the task: type-Object-None-Receptacle-scene/trial_seed."""
        target = self.task.toggle or self.task.receptacle
        names = f"{ALFRED_NAMES[self.task.object]}-None-{ALFRED_NAMES[target]}"
        return f"{self.task.kind}-{names}-{self.scene}/trial_{self.seed}"


def listing_key(name: str) -> tuple[str, int]:
    """alfworld lists things by class, and within a class from the highest number down ("a cabinet 2, a cabinet 1")."""
    kind, _, number = name.rpartition(" ")
    return kind, -int(number)


def goal_sentence(task: Task, template_index: int) -> str:
    """The goal in one of ALFWorld's two templates for the task type (no trailing period)."""
    template = GOAL_TEMPLATES[task.kind][template_index]
    return template.format(obj=task.object, recep=task.receptacle, toggle=task.toggle)


def satisfies(item: Item, task: Task) -> bool:
    """Whether `item` has the kind and state (clean/hot/cool) the task's goal object needs."""
    if item.kind != task.object:
        return False
    transform = TRANSFORMS.get(task.kind)
    return transform is None or getattr(item, transform[0])


def placed_goal_items(world: World) -> list[str]:
    """Goal-ready objects already in a receptacle of the target class."""
    task, receptacles = world.task, world.receptacles
    return [
        item.name
        for item in world.items.values()
        if item.location is not None
        and receptacles[item.location].kind == task.receptacle
        and satisfies(item, task)
    ]


def goal_met(world: World) -> bool:
    """The PDDL goal: placement tasks count placed objects; light needs the object held by a toggled lamp."""
    task = world.task
    if task.kind != LIGHT:
        return len(placed_goal_items(world)) >= (2 if task.kind == TWO else 1)
    if world.holding is None or world.agent_at is None or world.items[world.holding].kind != task.object:
        return False
    here = world.receptacles[world.agent_at].contents
    return any(world.items[name].kind == task.toggle and world.items[name].is_toggled for name in here)


def is_held_out(room: str, obj: str, target: str) -> bool:
    """Whether a (room, object, target receptacle or lamp) combination is reserved for valid_unseen."""
    return zlib.crc32(f"{room}/{obj}/{target}".encode()) % HELD_OUT_ONE_IN == 0


def rooms_for(task_type: str) -> list[str]:
    """The room kinds that have what the task type needs (a sink, a microwave, a fridge or a lamp)."""
    if task_type == LIGHT:
        return sorted(ROOM_LAMPS)
    appliance = TRANSFORMS[task_type][1] if task_type in TRANSFORMS else None
    return [
        room
        for room, counts in ROOM_RECEPTACLES.items()
        if appliance is None or counts.get(appliance, (0,))[0]
    ]


def floorplans_for(split: str, room: str) -> list[int]:
    """ALFRED floorplan numbers of `room` used by `split` (seen ones for train/valid_seen)."""
    first = FLOORPLAN_OFFSETS[room] + 1
    seen = FLOORPLANS_PER_ROOM - UNSEEN_FLOORPLANS_PER_ROOM
    numbers = range(first, first + FLOORPLANS_PER_ROOM)
    return list(numbers[seen:]) if split == "valid_unseen" else list(numbers[:seen])


def _build_floorplans() -> dict[int, tuple[str, tuple[str, ...]]]:
    """Each floorplan's room kind and receptacle classes (one entry per receptacle), fixed by its number."""
    floorplans = {}
    for room, counts in ROOM_RECEPTACLES.items():
        for number in range(FLOORPLAN_OFFSETS[room] + 1, FLOORPLAN_OFFSETS[room] + FLOORPLANS_PER_ROOM + 1):
            rng = random.Random(number)
            slots = [
                kind for kind, (low, high) in sorted(counts.items()) for _ in range(rng.randint(low, high))
            ]
            floorplans[number] = (room, tuple(slots))
    return floorplans


FLOORPLANS = _build_floorplans()


def task_combos(task_type: str, room: str, present: Sequence[str], held_out: bool) -> list[tuple[str, str]]:
    """(object, target) pairs a task of this type can use in a room with receptacle classes `present`."""
    present = set(present)
    combos = []
    for obj in ROOM_OBJECTS[room]:
        places = CAN_CONTAIN[obj] & present
        if task_type == LIGHT:
            targets = [lamp for lamp in ROOM_LAMPS[room] if places]
        else:
            transform = TRANSFORMS.get(task_type)
            if transform and obj not in TRANSFORMABLE[transform[0]]:
                continue
            appliance = transform[1] if transform else None
            # a target needs another class to start from, so the goal never holds at the start
            targets = [t for t in sorted(places) if t != appliance and places - {t}]
        combos += [(obj, t) for t in targets if is_held_out(room, obj, t) == held_out]
    return combos


def generate_world(
    split: str,
    task_index: int,
    task_types: Sequence[str] = TASK_TYPES,
    num_receptacles: int | None = None,
    num_distractors: int | None = None,
) -> World:
    """The initial world of task `task_index` of `split` (deterministic; every openable starts closed)."""
    seed = SPLIT_SEED_BASE[split] + task_index
    rng = random.Random(seed)
    for _ in range(100):  # a floorplan may lack every held-out target class; draw another
        task_type = rng.choice(list(task_types))
        floorplan = rng.choice(floorplans_for(split, rng.choice(rooms_for(task_type))))
        room, slots = FLOORPLANS[floorplan]
        combos = task_combos(task_type, room, slots, held_out=split == "valid_unseen")
        if combos:
            break
    else:
        raise RuntimeError(f"no feasible task for {split} task {task_index} with task_types={task_types}")
    obj, target = rng.choice(combos)
    slot_ids = range(len(slots))

    # the receptacles the task needs: sources of the goal objects, a target (or lamp holder), an appliance
    if task_type == LIGHT:
        anchor = rng.choice([i for i in slot_ids if slots[i] in LAMP_HOLDERS])
        sources = [i for i in slot_ids if slots[i] in CAN_CONTAIN[obj] and i != anchor] or [anchor]
    else:
        anchor = rng.choice([i for i in slot_ids if slots[i] == target])
        sources = [i for i in slot_ids if slots[i] in CAN_CONTAIN[obj] and slots[i] != target]
    count = rng.randint(2, 3) if task_type == TWO else rng.randint(1, 2)
    placements = [(obj, rng.choice(sources)) for _ in range(count)]
    if task_type == LIGHT:
        placements.append((target, anchor))
    required = {anchor, *(slot for _, slot in placements)}
    if task_type in TRANSFORMS:
        required.add(slots.index(TRANSFORMS[task_type][1]))

    kept = list(slot_ids)
    if num_receptacles is not None:
        others = [i for i in slot_ids if i not in required]
        rng.shuffle(others)
        kept = sorted(required | set(others[: max(0, num_receptacles - len(required))]))

    # distractors: any other object class of the room, on a kept receptacle that can contain it
    options = {}
    for kind in ROOM_OBJECTS[room]:
        spots = [i for i in kept if slots[i] in CAN_CONTAIN[kind]]
        if kind != obj and spots:
            options[kind] = spots
    kinds = list(options)
    extra = num_distractors if num_distractors is not None else rng.randint(len(kept) // 2, len(kept))
    for _ in range(extra if kinds else 0):
        kind = rng.choice(kinds)
        placements.append((kind, rng.choice(options[kind])))

    kept_kinds = [slots[i] for i in kept]
    kept_names = _numbered(kept_kinds)
    slot_names = dict(zip(kept, kept_names, strict=True))
    receptacles = {
        name: Receptacle(name, kind, kind in OPENABLE)
        for name, kind in sorted(
            zip(kept_names, kept_kinds, strict=True), key=lambda pair: listing_key(pair[0])
        )
    }
    rng.shuffle(placements)
    items = {}
    for name, (kind, slot) in zip(_numbered([kind for kind, _ in placements]), placements, strict=True):
        items[name] = Item(name, kind, slot_names[slot])
        receptacles[slot_names[slot]].contents.append(name)
    items = {
        name: items[name]
        for recep in receptacles.values()
        for name in sorted(recep.contents, key=listing_key)
    }
    task = Task(
        task_type, obj, None if task_type == LIGHT else target, target if task_type == LIGHT else None
    )
    return World(str(floorplan), room, seed, task, receptacles, items)


def _numbered(kinds: list[str]) -> list[str]:
    """Names '<class> <n>' for a list of classes, numbered from 1 per class in list order."""
    counts: dict[str, int] = {}
    names = []
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
        names.append(f"{kind} {counts[kind]}")
    return names
