"""The offline ALFWorld-style env: Gymnasium API, alfworld 0.4 text, the expert, splits and knobs."""

import copy
import json
import random
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from envs.alfworld import env as alfworld_env
from envs.alfworld.env import SPLIT_SIZES, SPLITS, TASK_TYPES, ALFWorldEnv
from envs.alfworld.expert import search_action
from envs.alfworld.rules import HELP_TEXT
from envs.alfworld.tables import OPENABLE
from envs.alfworld.world import (
    Item,
    Receptacle,
    Task,
    World,
    floorplans_for,
    generate_world,
    is_held_out,
)
from envs.base import NOTHING_HAPPENS

REPO = Path(__file__).resolve().parents[1]
REFERENCE_INTRO = (
    "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Looking quickly around you, you see "
    "a countertop 1, a fridge 1, a microwave 1, and a sinkbasin 1.\n\n"
    "Your task is to: clean some apple and put it in fridge."
)


def build_world(contents: dict[str, list[str]], task: Task) -> World:
    """A hand-built world: receptacle name -> the object names on or in it."""
    receptacles = {
        name: Receptacle(name, name.split()[0], name.split()[0] in OPENABLE, contents=list(objs))
        for name, objs in contents.items()
    }
    items = {obj: Item(obj, obj.split()[0], recep) for recep, objs in contents.items() for obj in objs}
    return World("7", "kitchen", 7, task, receptacles, items)


def hand_built_env(monkeypatch, world: World, goal: str, **kwargs) -> tuple[ALFWorldEnv, str, dict]:
    """An env that plays `world`, reset with the first seed whose goal template reads `goal`."""
    monkeypatch.setattr(alfworld_env, "generate_world", lambda *args, **kw: world)
    env = ALFWorldEnv(**kwargs)
    for seed in range(50):
        obs, info = env.reset(seed=seed)
        if info["task"] == goal:
            return env, obs, info
    raise AssertionError(f"no seed gives the goal {goal!r}")


def play(env: ALFWorldEnv, script: list[tuple[str, str]]) -> dict:
    """Step through (action, expected observation) pairs; return the last info."""
    info = {}
    for action, expected in script:
        obs, reward, terminated, truncated, info = env.step(action)
        assert obs == expected, f"{action!r} -> {obs!r}"
    return info


def run_expert(env: ALFWorldEnv, info: dict) -> tuple[bool, int]:
    """Play the expert to the end, checking each of its commands is admissible; (won, steps)."""
    for step in range(env.max_steps):
        action = env.expert_action()
        assert action in info["admissible_actions"], (action, info["admissible_actions"])
        if "expert_plan" in info:
            assert info["expert_plan"][0] == action
        _, reward, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            assert (reward == env.reward_scale) == terminated
            return terminated, step + 1
    return False, env.max_steps


def test_check_env_is_clean():
    for kwargs in ({}, {"render_mode": "ansi", "expert_plan_in_info": True}):
        env = gym.make("layerverl/ALFWorld-v0", **kwargs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped)
        assert [str(w.message) for w in caught] == []
    assert isinstance(envs.make("alfworld").unwrapped, ALFWorldEnv)


def test_exact_text_of_a_hand_built_kitchen(monkeypatch):
    task = Task("pick_clean_then_place_in_recep", "apple", "fridge", None)
    contents = {
        "countertop 1": ["apple 1", "mug 1"],
        "fridge 1": [],
        "microwave 1": ["egg 1"],
        "sinkbasin 1": [],
    }
    env, obs, info = hand_built_env(
        monkeypatch, build_world(contents, task), "clean some apple and put it in fridge"
    )
    assert obs == REFERENCE_INTRO
    assert info["admissible_actions"] == [f"go to {name}" for name in contents] + [
        "help",
        "inventory",
        "look",
    ]
    assert info["task_type"] == "pick_clean_then_place_in_recep"
    assert info["gamefile"] == "pick_clean_then_place_in_recep-Apple-None-Fridge-7/trial_7"
    script = [
        ("look", "You are in the middle of a room. Looking quickly around you, you see nothing."),
        ("inventory", "You are not carrying anything."),
        ("take apple 1 from countertop 1", NOTHING_HAPPENS),  # not there
        ("go to microwave 1", "You arrive at microwave 1. The microwave 1 is closed."),
        ("go to microwave 1", NOTHING_HAPPENS),  # already there
        ("open microwave 1", "You open the microwave 1. The microwave 1 is open. In it, you see a egg 1."),
        ("close microwave 1", "You close the microwave 1."),
        ("close microwave 1", NOTHING_HAPPENS),
        (
            "  GO   To countertop 1 ",
            "You arrive at countertop 1. On the countertop 1, you see a apple 1, and a mug 1.",
        ),
        ("look", "You are facing the countertop 1. Next to it, you see nothing."),
        ("examine countertop 1", "On the countertop 1, you see a apple 1, and a mug 1."),
        ("examine apple 1", NOTHING_HAPPENS),  # only the held object can be examined
        ("take mug 1 from countertop 1", "You pick up the mug 1 from the countertop 1."),
        ("take apple 1 from countertop 1", NOTHING_HAPPENS),  # hands full
        ("examine mug 1", "This is a normal mug 1. In it, you see nothing."),  # an ALFRED movable receptacle
        ("move mug 1 to countertop 1", "You move the mug 1 to the countertop 1."),
        ("take apple 1 from countertop 1", "You pick up the apple 1 from the countertop 1."),
        ("examine apple 1", "There's nothing special about apple 1."),
        ("inventory", "You are carrying: a apple 1."),
    ]
    info = play(env, script)
    assert {"examine apple 1", "examine countertop 1", "move apple 1 to countertop 1"} <= set(
        info["admissible_actions"]
    )
    script = [
        ("clean apple 1 with sinkbasin 1", NOTHING_HAPPENS),  # not at the sink
        ("go to fridge 1", "You arrive at fridge 1. The fridge 1 is closed."),
        ("examine fridge 1", "The fridge 1 is closed."),
        ("cool apple 1 with fridge 1", "You cool the apple 1 using the fridge 1."),  # works while closed
        ("examine apple 1", "This is a cold apple 1."),
        ("go to sinkbasin 1", "You arrive at sinkbasin 1. On the sinkbasin 1, you see nothing."),
        ("clean apple 1 with sinkbasin 1", "You clean the apple 1 using the sinkbasin 1."),
        ("examine apple 1", "This is a cool and clean apple 1."),
        ("go to microwave 1", "You arrive at microwave 1. The microwave 1 is closed."),
        ("heat apple 1 with microwave 1", "You heat the apple 1 using the microwave 1."),
        ("examine apple 1", "This is a hot and clean apple 1."),
        ("slice apple 1 with knife 1", NOTHING_HAPPENS),
        ("help", HELP_TEXT),
        ("go to fridge 1", "You arrive at fridge 1. The fridge 1 is closed."),
        ("move apple 1 to fridge 1", NOTHING_HAPPENS),  # closed
        ("put apple 1 in fridge 1", NOTHING_HAPPENS),  # the pre-0.4 grammar is off by default
        ("open fridge 1", "You open the fridge 1. The fridge 1 is open. In it, you see nothing."),
    ]
    info = play(env, script)
    assert "cool apple 1 with fridge 1" in info["admissible_actions"] and not info["won"]
    obs, reward, terminated, truncated, info = env.step("move apple 1 to fridge 1")
    assert (obs, reward, terminated, truncated, info["won"]) == (
        "You move the apple 1 to the fridge 1.",
        10.0,
        True,
        False,
        True,
    )
    assert (
        HELP_TEXT.startswith("Available commands:\n  look:")
        and "  move (object) to (receptacle):  place" in HELP_TEXT
    )


def test_lists_go_by_class_then_from_the_highest_number(monkeypatch):
    task = Task("pick_and_place_simple", "egg", "fridge", None)
    contents = {"cabinet 1": [], "cabinet 2": ["egg 1", "apple 1", "egg 2"], "fridge 1": []}
    env, obs, _ = hand_built_env(monkeypatch, build_world(contents, task), "put a egg in fridge")
    assert "you see a cabinet 2, a cabinet 1, and a fridge 1." in obs
    assert env.layout()["receptacles"][0]["name"] == "cabinet 2"  # layout lists receptacles as the intro does
    env.step("go to cabinet 2")
    assert env.step("open cabinet 2")[0].endswith("In it, you see a apple 1, a egg 2, and a egg 1.")


def test_exact_text_of_a_light_task(monkeypatch):
    task = Task("look_at_obj_in_light", "book", None, "desklamp")
    world = build_world({"bed 1": ["book 1", "pillow 1"], "desk 1": ["desklamp 1"]}, task)
    env, obs, _ = hand_built_env(monkeypatch, world, "look at book under the desklamp", reward_scale=1.0)
    assert obs.endswith("you see a bed 1, and a desk 1.\n\nYour task is to: look at book under the desklamp.")
    script = [
        ("go to desk 1", "You arrive at desk 1. On the desk 1, you see a desklamp 1."),
        ("take desklamp 1 from desk 1", NOTHING_HAPPENS),  # lamps are not pickupable
        ("examine desklamp 1", NOTHING_HAPPENS),  # nor examinable, since only held objects are
        ("use desklamp 1", "You turn on the desklamp 1."),  # not holding the book yet: no win
        ("go to bed 1", "You arrive at bed 1. On the bed 1, you see a book 1, and a pillow 1."),
        ("take book 1 from bed 1", "You pick up the book 1 from the bed 1."),
    ]
    assert not play(env, script)["won"]
    _, reward, terminated, _, info = env.step("go to desk 1")  # the lamp is on where the agent stands
    assert (reward, terminated, info["won"]) == (1.0, True, True)
    assert env.step("use desklamp 1")[:3] == ("You turn on the desklamp 1.", 0.0, True)  # reward only once


def test_legacy_put_alias_only_when_enabled(monkeypatch):
    task = Task("pick_and_place_simple", "apple", "fridge", None)
    for legacy_put in (False, True):
        world = build_world({"countertop 1": ["apple 1", "mug 1"], "fridge 1": []}, task)
        env, _, _ = hand_built_env(monkeypatch, world, "put a apple in fridge", legacy_put=legacy_put)
        env.step("go to countertop 1")
        env.step("take mug 1 from countertop 1")
        moved = "You move the mug 1 to the countertop 1." if legacy_put else NOTHING_HAPPENS
        assert env.step("put mug 1 on countertop 1")[0] == moved
    for action in ("take apple 1 from countertop 1", "go to fridge 1", "open fridge 1"):
        env.step(action)
    obs, _, terminated, _, info = env.step("Put apple 1 in/on fridge 1")
    assert (obs, terminated) == ("You move the apple 1 to the fridge 1.", True)
    assert not any(action.startswith("put ") for action in info["admissible_actions"])


@pytest.mark.parametrize(
    "action",
    ["", "   ", "x" * 100_000, "go to fr\x00idge 1", "g\u043e to countertop 1", "go to countertop 1.", "🙂" * 50, None, 17, b"look",
     "take", "move to", "open", "use", "put apple 1 in fridge 1", "examine", "go to", "inventory please"],
)  # fmt: skip
def test_bad_actions_change_nothing(action):
    env = ALFWorldEnv(seed=4)
    obs0, info0 = env.reset()
    obs, reward, terminated, truncated, info = env.step(action)
    assert (obs, reward, terminated, truncated) == (NOTHING_HAPPENS, 0.0, False, False)
    assert info["admissible_actions"] == info0["admissible_actions"]


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"split": "test"}, "split"), ({"reward_scale": 0}, "reward_scale"), ({"reward_scale": float("nan")}, "reward_scale"),
     ({"reward_scale": "10"}, "reward_scale"), ({"task_types": []}, "task_types"), ({"task_types": ["pick"]}, "task_types"),
     ({"task_types": "pick_and_place_simple"}, "task_types"), ({"num_receptacles": 3}, "num_receptacles"),
     ({"num_receptacles": 5.0}, "num_receptacles"), ({"num_distractors": -1}, "num_distractors"),
     ({"num_distractors": True}, "num_distractors"), ({"num_tasks": 0}, "num_tasks"), ({"num_tasks": 10**7}, "num_tasks"),
     ({"legacy_put": "yes"}, "legacy_put"), ({"expert_plan_in_info": 1}, "expert_plan_in_info"), ({"max_steps": 0}, "max_steps"),
     ({"seed": -1}, "seed"), ({"seed": "0"}, "seed"), ({"render_mode": "rgb_array"}, "render_mode")],
)  # fmt: skip
def test_bad_constructor_arguments_name_the_argument(kwargs, named):
    with pytest.raises(ValueError, match=named) as error:
        ALFWorldEnv(**kwargs)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "options",
    [{"task_index": -1}, {"task_index": 140}, {"task_index": "3"}, {"task_index": True}, {"level": 1}],
)
def test_bad_reset_options(options):
    with pytest.raises(ValueError, match="task_index"):
        ALFWorldEnv(split="valid_seen").reset(options=options)


def test_same_seed_same_episode_and_task_index_option():
    first, second = ALFWorldEnv(), ALFWorldEnv()
    for seed in (0, 5, 3552, 3553 + 5):
        obs_a, info_a = first.reset(seed=seed)
        obs_b, info_b = second.reset(seed=seed)
        assert (obs_a, info_a, first.unwrapped.layout()) == (obs_b, info_b, second.unwrapped.layout())
        rng = random.Random(seed)
        for _ in range(20):
            action = rng.choice(info_a["admissible_actions"])
            step_a, step_b = first.step(action), second.step(action)
            assert step_a == step_b
            info_a = step_a[4]
    # seed s plays task s % num_tasks, which options can also pick
    assert (
        first.reset(seed=3553 + 5)[1]["gamefile"]
        == second.reset(seed=9, options={"task_index": 5})[1]["gamefile"]
    )
    gamefiles = {first.reset(seed=seed)[1]["gamefile"] for seed in range(30)}
    assert len(gamefiles) == 30
    # an unseeded reset draws a new task from the env RNG, reproducibly
    draws = [
        [env.reset()[1]["gamefile"] for _ in range(5)] for env in (ALFWorldEnv(seed=1), ALFWorldEnv(seed=1))
    ]
    assert draws[0] == draws[1] and len(set(draws[0])) > 1


def test_generation_does_not_depend_on_hash_seed():
    code = (
        "import json; from envs.alfworld.env import ALFWorldEnv\n"
        "env = ALFWorldEnv(num_receptacles=6)\n"
        "out = []\n"
        "for s in range(40):\n"
        "    env.reset(seed=s); out.append([env.layout(), [env.expert_action()]])\n"
        "print(json.dumps(out))"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, env={"PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)},
            capture_output=True, text=True, check=True,
        ).stdout
        for seed in ("1", "2")
    ]  # fmt: skip
    assert outputs[0] == outputs[1] and json.loads(outputs[0])


def test_info_and_layout_are_fresh_objects():
    env = ALFWorldEnv(seed=2, expert_plan_in_info=True)
    _, info = env.reset()
    layout = env.layout()
    _, _, _, _, info2 = env.step(env.expert_action())
    assert info["admissible_actions"] is not info2["admissible_actions"]
    assert info["expert_plan"] is not info2["expert_plan"]
    layout["objects"][0]["receptacle"] = "nowhere"
    layout["receptacles"].clear()
    assert env.layout() != layout and env.layout()["receptacles"]


def test_layout_contract():
    env = ALFWorldEnv(split="valid_seen", seed=11)
    for seed in range(60):
        obs, info = env.reset(seed=seed)
        layout = env.layout()
        assert set(layout) == {"scene", "receptacles", "objects", "task", "goal"}
        assert obs.endswith(f"Your task is to: {layout['goal']}.") and info["task"] == layout["goal"]
        names = [recep["name"] for recep in layout["receptacles"]]
        assert ", ".join(f"a {name}" for name in names[:-1]) + f", and a {names[-1]}." in obs
        assert all(set(r) == {"name", "type", "openable"} for r in layout["receptacles"])
        keys = {"name", "type", "receptacle", "cleanable", "heatable", "coolable", "toggleable", "pickupable"}
        assert all(set(o) == keys and o["receptacle"] in names for o in layout["objects"])
        assert all(o["pickupable"] != o["toggleable"] for o in layout["objects"])
        task = layout["task"]
        assert set(task) == {"type", "object", "receptacle", "toggle"} and task["type"] == info["task_type"]
        assert (
            (task["toggle"] is None)
            == (task["type"] != "look_at_obj_in_light")
            == (task["receptacle"] is not None)
        )
        assert (
            info["gamefile"].startswith(f"{task['type']}-")
            and f"-{layout['scene']}/trial_" in info["gamefile"]
        )
        for recep in layout["receptacles"]:  # every openable receptacle starts closed
            if recep["openable"]:
                assert env.step(f"go to {recep['name']}")[0].endswith(f"The {recep['name']} is closed.")
        assert env.layout() == layout  # still the initial state


@pytest.mark.parametrize("split", SPLITS)
def test_expert_wins_every_task(split):
    env = ALFWorldEnv(split=split, num_tasks=250, expert_plan_in_info=True)
    types, lengths = Counter(), []
    for seed in range(250):
        _, info = env.reset(seed=seed)
        won, steps = run_expert(env, info)
        assert won, info["gamefile"]
        types[info["task_type"]] += 1
        lengths.append(steps)
    assert set(types) == set(TASK_TYPES)
    print(f"\n{split}: expert won 250/250, mean {sum(lengths) / 250:.1f} steps, by type {dict(types)}")


def test_expert_wins_with_small_rooms_and_recovers_from_random_moves():
    rng = random.Random(0)
    for task_type in TASK_TYPES:
        env = ALFWorldEnv(task_types=[task_type], num_receptacles=4, num_distractors=0, max_steps=80)
        for seed in range(15):
            _, info = env.reset(seed=seed)
            assert len(env.layout()["receptacles"]) == 4
            assert run_expert(env, info)[0]
        env = ALFWorldEnv(task_types=[task_type], split="valid_unseen", max_steps=80)
        for seed in range(15):
            _, info = env.reset(seed=seed)
            for _ in range(15):  # a random prefix, then the expert takes over
                _, _, terminated, _, info = env.step(rng.choice(info["admissible_actions"]))
                if terminated:
                    break
            assert terminated or run_expert(env, info)[0]


def test_searcher_wins_by_looking_not_by_knowing():
    """The searcher wins every easy task with admissible commands, and hiding the goal object in another
    receptacle it has not opened or reached yet never changes its move: it uses only what it can see."""
    env = ALFWorldEnv(
        task_types=["pick_and_place_simple"], num_receptacles=5, num_distractors=2, max_steps=20
    )
    hidden_moves = 0
    for seed in range(60):
        _, info = env.reset(seed=seed)
        while not info["won"]:
            world = env._world
            action = env.search_action()
            assert action in info["admissible_actions"]
            goal = next(item for item in world.items.values() if item.kind == world.task.object)
            if world.holding is None and goal.location != world.agent_at:
                for place in world.receptacles:
                    if (
                        place in (world.agent_at, goal.location)
                        or world.receptacles[place].kind == world.task.receptacle
                    ):
                        continue
                    moved = copy.deepcopy(world)
                    moved.receptacles[goal.location].contents.remove(goal.name)
                    moved.receptacles[place].contents.append(goal.name)
                    moved.items[goal.name].location = place
                    assert search_action(moved) == action
                    hidden_moves += 1
            _, _, terminated, truncated, info = env.step(action)
            assert not truncated
    assert hidden_moves > 100


def test_random_agent_is_far_below_the_expert():
    rng = random.Random(0)
    results = {}
    for name, kwargs in {"default": {}, "easy": {"num_receptacles": 5, "num_distractors": 2}}.items():
        env = ALFWorldEnv(**kwargs)
        wins = steps = 0
        start = time.perf_counter()
        for seed in range(200):
            _, info = env.reset(seed=seed)
            while True:
                _, _, terminated, truncated, info = env.step(rng.choice(info["admissible_actions"]))
                steps += 1
                if terminated or truncated:
                    break
            wins += terminated
        results[name] = (wins / 200, steps / (time.perf_counter() - start))
    print(f"\nrandom admissible agent, 200 train tasks: {results} (success, steps/s)")
    assert results["default"][0] < 0.2 and results["easy"][0] < 0.5


def test_splits_are_disjoint_and_unseen_combinations_held_out():
    assert {s: ALFWorldEnv(split=s).num_tasks for s in SPLITS} == SPLIT_SIZES
    assert SPLIT_SIZES == {"train": 3553, "valid_seen": 140, "valid_unseen": 134}
    summary = {}
    for split in SPLITS:
        env = ALFWorldEnv(split=split)
        worlds = [generate_world(split, index) for index in range(400)]
        assert env.reset(seed=3)[1]["gamefile"] == worlds[3].gamefile
        for world in worlds:
            target = world.task.toggle or world.task.receptacle
            assert is_held_out(world.room, world.task.object, target) == (split == "valid_unseen")
            assert int(world.scene) in floorplans_for(split, world.room)
        summary[split] = {
            "seeds": {world.seed for world in worlds},
            "scenes": {world.scene for world in worlds},
            "combos": {
                (world.scene, world.task.object, world.task.toggle or world.task.receptacle)
                for world in worlds
            },
        }
    for key in ("seeds", "scenes", "combos"):
        train, valid_seen, valid_unseen = (summary[split][key] for split in SPLITS)
        assert not (train | valid_seen) & valid_unseen
    assert not summary["train"]["seeds"] & summary["valid_seen"]["seeds"]
    assert summary["train"]["scenes"] & summary["valid_seen"]["scenes"]  # valid_seen reuses seen floorplans


def test_truncation_and_reward_scale():
    env = ALFWorldEnv(max_steps=3, seed=0)
    env.reset()
    assert [env.step("look")[3] for _ in range(3)] == [False, False, True]
    env = ALFWorldEnv(reward_scale=1.0, seed=0)
    _, info = env.reset()
    rewards = []
    while not info["won"]:
        _, reward, _, _, info = env.step(env.expert_action())
        rewards.append(reward)
    assert rewards[-1] == 1.0 and sum(rewards) == 1.0
    assert env.expert_action() == "look"  # nothing left to do
