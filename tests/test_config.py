"""A bad config key or value stops before any work, in one line naming it and the valid choices."""

import subprocess
import sys

import pytest

from layerverl.config import ConfigError, check_overrides, normalize_argv, run_identity


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["algo=foo"], "algo=foo: no such choice; valid: drgrpo, gigpo, grpo"),
        (
            ["algo.advantage.gama=1"],
            "algo.advantage.gama: unknown key; valid keys of algo.advantage: episode_stats, gamma",
        ),
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


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["algo=drgrpo", "layer=all"],
        ["layer=custom", "layer.spec=[3,4]"],
        ["layer=custom", "layer.spec=all,0,1"],
    ],
)
def test_good_overrides_pass(overrides):
    check_overrides(overrides)


def test_profile_specs_are_checked_against_the_profile(tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text('{"contribution": {"0": 0.1, "1": 0.9, "2": 0.5, "3": -1.0}}')
    check_overrides(
        ["layer=custom", "layer.spec=top3", f"layer.profile={profile}"]
    )  # a 4-layer profile ranks 4 layers
    check_overrides(["layer=all", "layer.boost=bottom2", f"layer.profile={profile}"])
    for overrides, message in (
        (["layer=custom", "layer.spec=top5"], "layer.spec: layer spec 'top5': K must be in 1..4"),
        (["layer=all", "layer.boost=top9"], "layer.boost: layer spec 'top9'"),
        (
            ["layer=custom", "layer.spec=top3", f"layer.profile={tmp_path}/none.json"],
            "layer.profile: cannot read",
        ),
    ):
        with pytest.raises(ConfigError, match=message):
            check_overrides([f"layer.profile={profile}", *overrides])


def test_layer_values_become_specs():
    assert normalize_argv(["layer=mid", "layer=7", "layer=[3,4]", "layer=all,0,1", "algo=grpo"]) == [
        "layer=mid",
        "layer=custom",
        "layer.spec=7",
        "layer=custom",
        "layer.spec=[3,4]",
        "layer=custom",
        "layer.spec=all,0,1",
        "algo=grpo",
    ]


def test_run_py_exits_with_the_line_before_work():
    result = subprocess.run(
        [sys.executable, "run.py", "algo=nope"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "config error: algo=nope: no such choice; valid: drgrpo, gigpo, grpo"


def test_speed_switches_do_not_change_a_runs_identity():
    config = {
        "seed": 0,
        "backend": {"threads": 2},
        "trainer": {"lr": 0.01, "reuse_prefix": True, "capture_prefix": True},
    }
    older = {
        "seed": 0,
        "backend": {"threads": 1},
        "trainer": {"lr": 0.01, "reuse_prefix": False},
    }  # no capture_prefix yet
    assert run_identity(config) == run_identity(older)
    assert run_identity(config) != run_identity({**older, "trainer": {"lr": 0.003}})
    assert config["trainer"]["capture_prefix"]  # the caller's config is left as it was


def test_options_an_estimator_never_took_do_not_change_a_runs_identity():
    recorded = {
        "algo": {
            "name": "grpo",
            "advantage": {
                "gamma": 0.95,
                "omega": 1.0,
                "norm_by_std": True,
                "episode_stats": "steps",
                "invalid_penalty": 0.1,
            },
        }
    }
    now = {
        "algo": {
            "name": "grpo",
            "advantage": {"norm_by_std": True, "episode_stats": "steps", "invalid_penalty": 0.1},
        }
    }
    assert run_identity(recorded) == run_identity(now)
    assert run_identity(recorded) != run_identity(
        {"algo": {"name": "grpo", "advantage": {"norm_by_std": False}}}
    )
    gigpo = {"algo": {"name": "gigpo", "advantage": {"gamma": 0.95}}}
    assert run_identity(gigpo) != run_identity({"algo": {"name": "gigpo", "advantage": {"gamma": 0.9}}})


# -- every bad value: one line naming the key, what was given and what is allowed ---------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.lr=abc"], "trainer.lr: got 'abc' (str); allowed: a number > 0"),
        (["trainer.lr=-0.1"], "trainer.lr: got -0.1 (float); allowed: a number > 0"),
        (["trainer.group_size=0"], "trainer.group_size: got 0 (int); allowed: an integer >= 1"),
        (["trainer.groups=2.5"], "trainer.groups: got 2.5 (float); allowed: an integer >= 1"),
        (
            ["trainer.drop_zero_advantage=yes"],
            "trainer.drop_zero_advantage: got 'yes' (str); allowed: true or false",
        ),
        (
            ["trainer.lr_schedule=linear"],
            "trainer.lr_schedule: got 'linear' (str); allowed: one of constant, cosine",
        ),
        (["trainer.top_p=1.5"], "trainer.top_p: got 1.5 (float); allowed: a number > 0 and <= 1"),
        (
            ["trainer.warmup_iterations=50"],
            "trainer.warmup_iterations: got 50; allowed: at most trainer.iterations (40)",
        ),
        (
            ["env=code", "trainer.groups=200"],
            "trainer.groups: got 200; allowed: at most the 164 tasks of env code",
        ),
        (
            ["env=textarena", "env.kwargs.game=Nope-v0"],
            "env.kwargs.game: got 'Nope-v0', not a TextArena game; verified",
        ),
        (["env=webshop", "env.kwargs.split=nope"], "env.kwargs (env=webshop): split must be one of"),
        (
            ["+env.kwargs.colour=red"],
            "env.kwargs.colour: not an argument of env 'alfworld'; valid: split, max_steps",
        ),
        (["env.kwargs.max_steps=many"], "env.kwargs.max_steps: got 'many' (str); allowed: an integer"),
        (
            ["model.env_kwargs.alfworld.num_receptacles=[1]"],
            "model.env_kwargs.alfworld.num_receptacles: got - 1 (list)",
        ),
        (
            ["env=math", "+model.env_kwargs.math.reward_kwargs.literl_only=true"],
            "model.env_kwargs.math.reward_kwargs.literl_only: not an option of the 'math' reward; valid: "
            "timeout_s, num_workers, format_score, literal_only",
        ),
        (
            ["env=math", "model.env_kwargs.math.reward_kwargs.format_score=high"],
            "model.env_kwargs.math.reward_kwargs.format_score: got 'high' (str); allowed: a number",
        ),
        (
            ["env=code", "+env.kwargs.reward_kwargs={score_mode: 1}"],
            "env.kwargs.reward_kwargs.score_mode: got 1 (int); allowed: a string",
        ),
        (["model.path=/nonexistent"], "model.path: '/nonexistent' does not exist; pass a local model folder"),
        (
            ["model.path=Org/Some-Model"],
            "model.path: 'Org/Some-Model' is a model hub id, and no model hub is reachable",
        ),
        (["model=qwen2.5-1.5b-instruct"], "model.path: 'Qwen/Qwen2.5-1.5B-Instruct' is a model hub id"),
        (["layer.boost=1"], "layer.boost: Boost trains every layer, so layer.spec must be all (got 'mid')"),
        (["algo.loss.kl_type=kl9"], "algo.loss.kl_type: got 'kl9' (str); allowed: one of kl, k1"),
        (["backend=verl", "backend.gpu_memory_utilization=2"], "backend.gpu_memory_utilization: got 2 (int)"),
    ],
)
def test_bad_values_give_one_line(overrides, message):
    with pytest.raises(ConfigError) as error:
        check_overrides(overrides)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_model_path_folders(tmp_path):
    from layerverl.config_values import ConfigValueError, check_model_path

    check_model_path(None)  # the shipped tiny policy
    check_model_path("tiny-hanoi")  # a shipped checkpoint by name
    with pytest.raises(ConfigValueError, match="tiny-hanoi"):  # a typo lists what exists
        check_model_path("tiny-hanio")
    (tmp_path / "model").mkdir()
    with pytest.raises(ConfigValueError, match="is a folder without config.json"):
        check_model_path(str(tmp_path / "model"))
    (tmp_path / "model" / "config.json").write_text("{}")
    check_model_path(str(tmp_path / "model"))
    try:  # an embedded model: fine when its wheel is installed, else the line says how to install it
        check_model_path("smollm2-135m-instruct")
    except ConfigValueError as error:
        assert "pip install" in str(error)


COMPOSITIONS = [
    ["env=alfworld"],
    ["env=webshop"],
    ["env=textarena"],
    ["env=code"],
    ["env=math"],  # its default model (smollm2) sets reward_kwargs: their keys are checked too
    ["algo=grpo"],
    ["algo=drgrpo"],
    ["backend=verl"],
    ["layer=all"],
]


def _wrong_value(value):
    """A value of another type than `value`: a mapping for strings and nulls, a string for the rest."""
    if isinstance(value, dict):
        return 5
    if isinstance(value, str) or value is None:
        return {"a": 1}
    return "abc"


def _leaves(node, prefix=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], node


@pytest.mark.parametrize("choices", COMPOSITIONS, ids=lambda c: " ".join(c))
def test_every_key_with_a_wrong_typed_value_gives_one_line(choices):
    """Every leaf of the composed config, set to a value of the wrong type, stops with one line naming it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf, open_dict

    from layerverl.config import CONFIG_DIR, _check_layer_specs
    from layerverl.config_values import ConfigValueError, check_values

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        reference = compose("config", overrides=choices)
    keys = [key for key, _ in _leaves(OmegaConf.to_container(reference))]
    assert len(keys) > 40
    missed = []
    for key in keys:
        cfg = reference.copy()
        with open_dict(cfg):
            OmegaConf.update(cfg, key, _wrong_value(OmegaConf.select(reference, key)), merge=False)
        try:
            _check_layer_specs(cfg)
            check_values(cfg, reference)
        except (ConfigError, ConfigValueError) as error:
            message = str(error)
        else:
            message = "accepted"
        if key not in message or "\n" in message:
            missed.append((key, message))
    assert missed == []


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.lr=abc"],
        ["env=textarena", "env.kwargs.game=Nope-v0"],
        ["model.path=/nonexistent"],
        ["trainer.group_size=0"],
        ["+env.kwargs.colour=red"],
    ],
)
def test_run_py_stops_with_one_line_and_writes_nothing(overrides, tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "run.py", *overrides, f"hydra.run.dir={out}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("config error: "), (
        result.stderr
    )
    assert not out.exists()


@pytest.mark.parametrize("env", ["alfworld", "webshop", "textarena", "code", "math"])
def test_each_env_default_config_passes(env):
    check_overrides([f"env={env}"])
