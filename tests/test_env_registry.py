"""The env registry, the TextEnv base, the batch runner and the terminal play mode, on a toy env."""

import os
import sys
import warnings
from importlib.metadata import EntryPoint

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from toy_env import CounterEnv

import envs
from envs import registry
from envs.batch import EnvBatch
from envs.play import play

envs.register_env("counter", "toy_env:CounterEnv", target=2)


def test_make_uses_defaults_and_overrides():
    assert envs.make("counter").target == 2
    assert envs.make("counter", target=5).target == 5
    assert "counter" in envs.list_envs()


def test_gymnasium_id_registered():
    env = gym.make("layerverl/Counter-v0")
    assert isinstance(env.unwrapped, CounterEnv)


def test_unknown_env_lists_registered_names():
    with pytest.raises(ValueError, match=r"unknown env 'nope'; registered envs: .*counter"):
        envs.make("nope")


def test_check_env_and_text_spaces():
    env = envs.make("counter")
    check_env(env)
    assert env.observation_space.contains("")
    assert env.action_space.contains("go to é › ™ 冰箱\n")


def test_info_is_fresh_and_seeded():
    env = envs.make("counter")
    obs1, info1 = env.reset(seed=7)
    obs2, info2 = env.reset(seed=7)
    assert obs1 == obs2 and info1 == info2
    assert info1["admissible_actions"] is not info2["admissible_actions"]
    assert set(info1) >= {"admissible_actions", "anchor", "won", "task"}


def test_constructor_seed_drives_first_reset():
    assert envs.make("counter", seed=11).reset()[0] == envs.make("counter").reset(seed=11)[0]


@pytest.mark.parametrize("action", ["", "x" * 100_000, "up\x00", None, 3, "ｕｐ"])
def test_any_action_is_handled(action):
    env = envs.make("counter")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert obs == envs.NOTHING_HAPPENS and reward == 0.0 and not terminated


def test_truncation_at_max_steps():
    env = envs.make("counter", max_steps=2)
    env.reset(seed=0, options={"start": 0})
    assert env.step("down")[3] is False
    assert env.step("down")[3] is True


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="max_steps"):
        envs.make("counter", max_steps=0)
    with pytest.raises(ValueError, match="render_mode"):
        envs.make("counter", render_mode="rgb")


def test_broken_plugin_warns_and_others_survive(monkeypatch):
    good = EntryPoint("plugged", "toy_env:CounterEnv", registry.ENTRY_POINT_GROUP)
    broken = EntryPoint("broken", "no_such_module_xyz:Env", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [broken, good])
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = envs.list_envs()
    assert "plugged" in names and "broken" not in names
    assert any("'broken'" in str(w.message) for w in caught)
    assert isinstance(envs.make("plugged"), CounterEnv)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batch_matches_single_envs(num_workers):
    seeds = [0, 1, 2, 3]
    with EnvBatch("counter", num_envs=4, num_workers=num_workers) as batch:
        first = batch.reset(seeds)
        assert [obs for obs, _ in first] == [envs.make("counter").reset(seed=s)[0] for s in seeds]
        results = batch.step({0: "up", 2: "nonsense"})
        assert set(results) == {0, 2}
        assert results[2].observation == envs.NOTHING_HAPPENS
        experts = batch.call("expert_action", [1, 3])
        assert set(experts.values()) <= {"up", "down"}


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batch_close_closes_every_env_where_it_lives(num_workers, tmp_path):
    log = tmp_path / "closed.txt"
    with EnvBatch("counter", num_envs=4, num_workers=num_workers, close_log=str(log)) as batch:
        batch.reset([0, 1, 2, 3])
        assert not log.exists()
    pids = log.read_text().split()
    assert len(pids) == 4
    assert (str(os.getpid()) in pids) == (num_workers == 0)  # in workers, each worker closed its own envs
    assert len(set(pids)) == (1 if num_workers == 0 else num_workers)
    batch.close()  # a second close does nothing
    assert len(log.read_text().split()) == 4


def test_batch_reports_worker_errors():
    with pytest.raises(ValueError, match="max_steps"):
        EnvBatch("counter", num_envs=2, num_workers=1, max_steps=-1)
    with pytest.raises(ValueError, match="unknown env"):
        EnvBatch("nope", num_envs=1)


def test_play_with_scripted_input():
    env = envs.make("counter")
    inputs = iter(["expert", "1", "up", "up"])
    lines = []
    total = play(env, seed=0, read=lambda _: next(inputs), write=lines.append)
    assert total == 1.0
    assert any(line in ("expert: up", "expert: down") for line in lines)
    assert lines[-1] == "episode over: won=True return=1"


def test_play_cli_lists_envs(capsys):
    from envs.play import main

    main(["--list"])
    assert "counter" in capsys.readouterr().out.split()


def test_envs_package_does_not_import_torch():
    import subprocess

    code = "import envs, sys; envs.list_envs(); assert 'torch' not in sys.modules, 'envs imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


NEEDS_EXTERNAL_DATA = {"alfworld_real"}  # game files from $ALFWORLD_DATA; tested in test_alfworld_real.py


@pytest.mark.parametrize("name", [n for n in envs.list_envs() if n not in NEEDS_EXTERNAL_DATA | {"counter"}])
def test_check_env_passes_for_every_registered_env(name):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*spec.*")  # made without gymnasium.make, so no spec
        check_env(envs.make(name).unwrapped)
