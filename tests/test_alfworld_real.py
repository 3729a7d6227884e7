"""The real-ALFWorld adapter and game-file export: offline games played by the real engine, and text parity
of our pure-Python ALFWorld env against it (same layout, same actions, same observation strings)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import cache

import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.alfworld import game_files
from envs.alfworld.real import find_gamefiles


def _object(name: str, receptacle: str, **properties: bool) -> dict:
    kind = name.rsplit(" ", 1)[0]
    flags = dict.fromkeys(("cleanable", "heatable", "coolable", "toggleable"), False) | {"pickupable": True}
    return {"name": name, "type": kind, "receptacle": receptacle, **flags, **properties}


FOOD = {"cleanable": True, "heatable": True, "coolable": True}
KITCHEN = {
    "scene": "kitchen",
    "receptacles": [
        {"name": "cabinet 2", "type": "cabinet", "openable": True},
        {"name": "cabinet 1", "type": "cabinet", "openable": True},
        {"name": "countertop 1", "type": "countertop", "openable": False},
        {"name": "fridge 1", "type": "fridge", "openable": True},
        {"name": "microwave 1", "type": "microwave", "openable": True},
        {"name": "sinkbasin 1", "type": "sinkbasin", "openable": False},
    ],
    "objects": [
        _object("apple 1", "countertop 1", **FOOD),
        _object("apple 2", "fridge 1", **FOOD),
        _object("mug 1", "cabinet 1", **FOOD),
        _object("knife 1", "countertop 1", cleanable=True),
    ],
    "task": {
        "type": "pick_clean_then_place_in_recep",
        "object": "apple",
        "receptacle": "fridge",
        "toggle": None,
    },
    "goal": "clean some apple and put it in fridge",
}
BEDROOM = {
    "scene": "bedroom",
    "receptacles": [
        {"name": "bed 1", "type": "bed", "openable": False},
        {"name": "drawer 1", "type": "drawer", "openable": True},
        {"name": "sidetable 1", "type": "sidetable", "openable": False},
    ],
    "objects": [
        _object("alarmclock 1", "drawer 1"),
        _object("desklamp 1", "sidetable 1", toggleable=True, pickupable=False),
        _object("pillow 1", "bed 1"),
    ],
    "task": {
        "type": "look_at_obj_in_light",
        "object": "alarmclock",
        "receptacle": None,
        "toggle": "desklamp",
    },
    "goal": "look at alarmclock under the desklamp",
}
LAYOUTS = [KITCHEN, BEDROOM]


@pytest.fixture
def alfworld_installed() -> None:
    """Skip where the `alfworld` extra is absent; CI installs it, so these tests really run there."""
    pytest.importorskip("alfworld")


# -- game-file export (pure Python parts) ----------------------------------------------------------------
def test_entity_ids_number_like_the_demangler_and_keep_basins():
    ids = game_files.entity_ids(KITCHEN)
    # The Demangler numbers a class from the top down over sorted ids, so number 1 must sort last.
    assert sorted([ids["cabinet 1"], ids["cabinet 2"]]) == [ids["cabinet 2"], ids["cabinet 1"]]
    assert ids["sinkbasin 1"].startswith("sink_bar_") and ids["sinkbasin 1"].endswith("_bar_sinkbasin")
    with pytest.raises(ValueError, match="'<type> <number>'"):
        game_files.entity_ids({"receptacles": [{"name": "fridge", "type": "fridge"}], "objects": []})


def test_walkthrough_plans_each_task_shape():
    assert game_files.plan_walkthrough(KITCHEN) == [
        "go to countertop 1", "take apple 1 from countertop 1", "go to sinkbasin 1",
        "clean apple 1 with sinkbasin 1", "go to fridge 1", "open fridge 1", "move apple 1 to fridge 1",
    ]  # fmt: skip
    assert game_files.plan_walkthrough(BEDROOM) == [
        "go to drawer 1", "open drawer 1", "take alarmclock 1 from drawer 1", "go to sidetable 1", "use desklamp 1",
    ]  # fmt: skip


def test_walkthrough_wins_our_env_worlds():
    env = envs.make("alfworld")
    for seed in range(50):
        env.reset(seed=seed)
        outcomes = [env.step(action)[2] for action in game_files.plan_walkthrough(env.unwrapped.layout())]
        assert outcomes[-1] and not any(outcomes[:-1]), f"seed {seed}"


# -- missing package / data: one clear line ---------------------------------------------------------------
def test_missing_alfworld_package_says_what_to_install(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "alfworld" else real_find_spec(name, *a)
    )
    with pytest.raises(ImportError, match=r"pip install -e '\.\[alfworld\]'"):
        envs.make("alfworld_real", gamefiles=[str(tmp_path / "game.tw-pddl")])


def test_missing_data_says_to_set_alfworld_data(monkeypatch, tmp_path):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"set ALFWORLD_DATA .*json_2\.1\.1.*or pass gamefiles"):
        envs.make("alfworld_real", split="valid_unseen")
    with pytest.raises(ValueError, match="split must be one of train, valid_seen, valid_unseen"):
        envs.make("alfworld_real", split="test")


def test_find_gamefiles_filters_like_alfworld(monkeypatch, tmp_path):
    split = tmp_path / "json_2.1.1" / "valid_seen"
    games = {
        "pick_and_place_simple-Apple-None-Fridge-1/trial_1": True,
        "pick_and_place_with_movable_recep-Apple-Bowl-Fridge-1/trial_1": True,
        "pick_heat_then_place_in_recep-AppleSliced-None-Fridge-1/trial_1": True,
        "pick_cool_then_place_in_recep-Apple-None-Fridge-1/trial_1": False,
    }
    for folder, solvable in games.items():
        (split / folder).mkdir(parents=True)
        (split / folder / "game.tw-pddl").write_text(json.dumps({"solvable": solvable}))
        (split / folder / "traj_data.json").write_text(json.dumps({"task_type": folder.split("-")[0]}))
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    assert find_gamefiles("valid_seen") == [str(split / next(iter(games)) / "game.tw-pddl")]


def test_import_envs_does_not_import_textworld():
    code = "import sys, envs; envs.list_envs(); sys.exit('textworld' in sys.modules or 'alfworld' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- the real engine on exported games --------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS, ids=[layout["task"]["type"] for layout in LAYOUTS])
def test_real_engine_wins_exported_game_by_walkthrough(alfworld_installed, layout, tmp_path):
    gamefile = game_files.write_game(layout, tmp_path / layout["task"]["type"])
    walkthrough = json.loads(gamefile.read_text())["walkthrough"]
    env = envs.make("alfworld_real", gamefiles=[gamefile])
    check_env(env.unwrapped, skip_render_check=True)

    observation, info = env.reset(seed=0)
    assert observation.endswith(f"Your task is to: {layout['goal']}.")
    assert info["task"] == layout["goal"] and info["task_type"] == layout["task"]["type"]
    assert info["gamefile"] == str(gamefile) and info["won"] is False
    assert info["admissible_actions"] == sorted(
        {f"go to {r['name']}" for r in layout["receptacles"]} | {"help", "inventory", "look"}
    )
    assert env.step("put apple 1 in fridge 1")[0] == envs.NOTHING_HAPPENS  # 0.4.x has no legacy "put"
    for action in walkthrough:
        assert action in info["admissible_actions"]
        observation, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated, info["won"]) == (1.0, True, False, True)


def test_real_engine_handcoded_expert_and_truncation(alfworld_installed, tmp_path):
    gamefile = game_files.write_game(KITCHEN, tmp_path / "pick_clean_then_place_in_recep")
    env = envs.make("alfworld_real", gamefiles=[gamefile], expert=True, max_steps=30)
    env.reset(seed=1)
    terminated = truncated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, info = env.step(env.unwrapped.expert_action())
    assert terminated and info["won"]
    env.reset()
    for _ in range(30):
        _, _, terminated, truncated, _ = env.step("look")
    assert truncated and not terminated


# -- text parity: our env and the real engine on the same world, step by step ----------------------------
FLAGS = ("cleanable", "heatable", "coolable", "toggleable")
PARITY_SEEDS_SCANNED = 60  # the first seed of each task type among these is played in both engines
PARITY_MAX_STEPS = 200  # probes add many steps to the expert's plan
DEFAULT_PARITY = ("look_at_obj_in_light", "pick_two_obj_and_place", "pick_cool_then_place_in_recep")


def _probes(step: int, layout: dict, admissible: list[str]) -> list[str]:
    """Commands to slip in before the expert's next one: state queries, open/close, and inapplicable ones."""
    objects, receptacles = layout["objects"], layout["receptacles"]
    examines = [a for a in admissible if a.startswith("examine ")]  # the receptacle here, the held object
    toggles = [a for a in admissible if a.startswith(("open ", "close "))]
    here = next(
        (a[len("examine ") :] for a in examines if a[len("examine ") :] in {r["name"] for r in receptacles}),
        None,
    )
    elsewhere = next(r["name"] for r in receptacles if r["name"] != objects[0]["receptacle"])
    started_here = [f"examine {o['name']}" for o in objects if o["receptacle"] == here]
    rounds = [
        ["inventory", "look", *examines],
        [*toggles[:1], *toggles[:1], "help"],  # the same command twice: once applicable, then not
        [
            f"put {objects[0]['name']} in {elsewhere}",
            f"take {objects[0]['name']} from {elsewhere}",
            "go to nowhere 1",
        ],
        [f"use {receptacles[0]['name']}", "", *([f"go to {here}"] if here else []), *started_here[:1]],
    ]
    return rounds[step % len(rounds)]


def _compare(where: str, ours: tuple, real: tuple) -> list[str]:
    """Mismatches between two (observation, reward, terminated, info) tuples, as readable lines."""
    problems = []
    if ours[0] != real[0]:
        problems.append(f"{where}: observation\n    real: {real[0]!r}\n    ours: {ours[0]!r}")
    if ours[1:3] != real[1:3]:
        problems.append(f"{where}: (reward, terminated) real {real[1:3]} ours {ours[1:3]}")
    ours_actions, real_actions = ours[3]["admissible_actions"], real[3]["admissible_actions"]
    if ours_actions != real_actions:
        missing, extra = (
            sorted(set(real_actions) - set(ours_actions)),
            sorted(set(ours_actions) - set(real_actions)),
        )
        detail = f"missing {missing} extra {extra}" if missing or extra else "same set, different order"
        problems.append(f"{where}: admissible actions {detail}")
    return problems


@cache
def _first_seed_of_each_task_type() -> dict[str, int]:
    env, first_seed = envs.make("alfworld"), {}
    for seed in range(PARITY_SEEDS_SCANNED):
        env.reset(seed=seed)
        first_seed.setdefault(env.unwrapped.layout()["task"]["type"], seed)
    return first_seed


# Three task types run by default (~25 s of real-engine steps); the other three are marked slow.
PARITY_CASES = [
    pytest.param(task_type, marks=[] if task_type in DEFAULT_PARITY else [pytest.mark.slow])
    for task_type in game_files.TASK_TYPES
]


@pytest.mark.parametrize("task_type", PARITY_CASES)
def test_text_parity_with_real_engine(alfworld_installed, task_type, tmp_path):
    """Our env and the real engine, same world and actions: identical observations, rewards, admissible lists."""
    seed = _first_seed_of_each_task_type()[task_type]
    ours = envs.make("alfworld", reward_scale=1.0, max_steps=PARITY_MAX_STEPS)
    observation, info = ours.reset(seed=seed)
    layout = ours.unwrapped.layout()
    gamefile = game_files.write_game(layout, tmp_path / f"{task_type}-{seed}")
    real = envs.make("alfworld_real", gamefiles=[gamefile], max_steps=PARITY_MAX_STEPS)
    real_observation, real_info = real.reset()

    problems = _compare(
        f"seed {seed} reset", (observation, 0.0, False, info), (real_observation, 0.0, False, real_info)
    )
    terminated, step = False, 0
    while not terminated and step < 40:
        for action in [
            *_probes(step, layout, real_info["admissible_actions"]),
            ours.unwrapped.expert_action(),
        ]:
            observation, reward, terminated, _, info = ours.step(action)
            real_observation, real_reward, real_terminated, _, real_info = real.step(action)
            problems += _compare(
                f"seed {seed} ({task_type}) step {step} {action!r}",
                (observation, reward, terminated, info),
                (real_observation, real_reward, real_terminated, real_info),
            )
        step += 1
    assert terminated, f"seed {seed}: our expert did not win within 40 rounds"
    assert not problems, f"{len(problems)} mismatches with the real engine:\n" + "\n".join(problems)


def test_layout_properties_follow_alfred_tables(alfworld_installed):
    """The flags our layouts carry (and the export writes as PDDL facts) are ALFRED's own tables."""
    from alfworld.gen import constants

    tables = {flag: {c.lower() for c in constants.VAL_ACTION_OBJECTS[flag.capitalize()]} for flag in FLAGS}
    openable = {c.lower() for c in constants.OPENABLE_CLASS_LIST}
    env = envs.make("alfworld")
    for seed in range(20):
        env.reset(seed=seed)
        layout = env.unwrapped.layout()
        for obj in layout["objects"]:
            assert {flag: obj[flag] for flag in FLAGS} == {
                flag: obj["type"] in tables[flag] for flag in FLAGS
            }, obj
        for receptacle in layout["receptacles"]:
            assert receptacle["openable"] == (receptacle["type"] in openable), receptacle
