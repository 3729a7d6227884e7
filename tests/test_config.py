"""A bad config key or value stops before any work, in one line naming it and the valid choices."""

import subprocess
import sys

import pytest

from layerverl.config import ConfigError, check_overrides, normalize_argv, run_identity


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["algo=foo"], "algo=foo: no such choice; valid: drgrpo, gigpo, grpo"),
        (["algo.advantage.gama=1"], "algo.advantage.gama: unknown key; valid keys of algo.advantage: episode_stats, gamma"),
        (["nonsense.key=1"], "nonsense.key: unknown key; valid keys: algo, backend, env"),
        (["layer.spec=middle"], "layer.spec: unknown layer spec 'middle'; use mid, first"),
        (["layer.spec=top3"], "needs a per-layer profile"),
        (["-m", "layer.spec=all,0,bad"], "unknown layer spec 'bad'"),
    ],
)
def test_bad_overrides_give_one_line(overrides, message):
    with pytest.raises(ConfigError) as error:
        check_overrides(overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("overrides", [[], ["algo=drgrpo", "layer=all"], ["layer=custom", "layer.spec=[3,4]"],
                                       ["layer=custom", "layer.spec=all,0,1"]])
def test_good_overrides_pass(overrides):
    check_overrides(overrides)


def test_profile_specs_are_checked_against_the_profile(tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text('{"contribution": {"0": 0.1, "1": 0.9, "2": 0.5, "3": -1.0}}')
    check_overrides(["layer=custom", "layer.spec=top3", f"layer.profile={profile}"])  # a 4-layer profile ranks 4 layers
    check_overrides(["layer=all", "layer.boost=bottom2", f"layer.profile={profile}"])
    for overrides, message in ((["layer=custom", "layer.spec=top5"], "layer.spec: layer spec 'top5': K must be in 1..4"),
                               (["layer=all", "layer.boost=top9"], "layer.boost: layer spec 'top9'"),
                               (["layer=custom", "layer.spec=top3", f"layer.profile={tmp_path}/none.json"], "layer.profile: cannot read")):
        with pytest.raises(ConfigError, match=message):
            check_overrides([f"layer.profile={profile}", *overrides])


def test_layer_values_become_specs():
    assert normalize_argv(["layer=mid", "layer=7", "layer=[3,4]", "layer=all,0,1", "algo=grpo"]) == [
        "layer=mid", "layer=custom", "layer.spec=7", "layer=custom", "layer.spec=[3,4]",
        "layer=custom", "layer.spec=all,0,1", "algo=grpo"]


def test_run_py_exits_with_the_line_before_work():
    result = subprocess.run([sys.executable, "run.py", "algo=nope"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip() == "config error: algo=nope: no such choice; valid: drgrpo, gigpo, grpo"


def test_speed_switches_do_not_change_a_runs_identity():
    config = {"seed": 0, "backend": {"threads": 2}, "trainer": {"lr": 0.01, "reuse_prefix": True, "capture_prefix": True}}
    older = {"seed": 0, "backend": {"threads": 1}, "trainer": {"lr": 0.01, "reuse_prefix": False}}  # no capture_prefix yet
    assert run_identity(config) == run_identity(older)
    assert run_identity(config) != run_identity({**older, "trainer": {"lr": 0.003}})
    assert config["trainer"]["capture_prefix"]  # the caller's config is left as it was


def test_options_an_estimator_never_took_do_not_change_a_runs_identity():
    recorded = {"algo": {"name": "grpo", "advantage": {"gamma": 0.95, "omega": 1.0, "norm_by_std": True,
                                                       "episode_stats": "steps", "invalid_penalty": 0.1}}}
    now = {"algo": {"name": "grpo", "advantage": {"norm_by_std": True, "episode_stats": "steps", "invalid_penalty": 0.1}}}
    assert run_identity(recorded) == run_identity(now)
    assert run_identity(recorded) != run_identity({"algo": {"name": "grpo", "advantage": {"norm_by_std": False}}})
    gigpo = {"algo": {"name": "gigpo", "advantage": {"gamma": 0.95}}}
    assert run_identity(gigpo) != run_identity({"algo": {"name": "gigpo", "advantage": {"gamma": 0.9}}})
