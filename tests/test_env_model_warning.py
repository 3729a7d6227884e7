"""The start-of-run warning for an (env, model) pair the model was never warm-started on or measured to learn."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from layerverl import cli
from layerverl.config import CONFIG_DIR, untrained_env_warning


def composed(*overrides: str):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        [],  # the main job: tiny policy on ALFWorld
        ["env=math"],  # defaults to the pretrained model, which learns it
        ["env=math", "model=smollm2-135m-instruct"],
        ["env=webshop", "model=qwen2.5-1.5b-instruct"],  # a general pretrained model lists no envs
        ["env=textarena", "model.path=/my/own/checkpoint"],  # a user's checkpoint: nothing known about it
        ["env=textarena"],  # defaults to the tiny policy warm-started on TowerOfHanoi
        ["env=webshop"],  # ... and on WebShop
    ],
)
def test_no_warning_where_the_model_learns_the_env(overrides):
    assert untrained_env_warning(composed(*overrides)) is None


@pytest.mark.parametrize(
    ("overrides", "instead"),
    [
        (["env=math", "model=tiny"], "use model=smollm2-135m-instruct instead"),
        (["env=webshop", "model=tiny"], "use model=tiny-webshop instead"),
        (["model=smollm2-135m-instruct"], "use model=tiny instead"),  # ALFWorld
        (["env=textarena", "model=tiny"], "use model=tiny-hanoi instead"),
        (
            ["env=textarena", "env.kwargs.game=FrozenLake-v0"],
            "no model here is known to learn env=textarena/FrozenLake-v0",
        ),
        (["env=code"], "no model here is known to learn env=code yet"),
    ],
)
def test_warning_names_what_to_use_instead(overrides, instead):
    cfg = composed(*overrides)
    warning = untrained_env_warning(cfg)
    assert warning.startswith(f"warning: model={cfg.model.name} is not known to learn env={cfg.env.name}")
    assert instead in warning and "\n" not in warning


def test_math_textarena_and_webshop_default_to_a_model_that_learns_them():
    assert composed("env=math").model.name == "smollm2-135m-instruct"
    assert composed("env=textarena").model.name == "tiny-hanoi"
    assert composed("env=webshop").model.name == "tiny-webshop"
    assert composed("env=textarena", "env.kwargs.game=FrozenLake-v0").env.kwargs.game == "FrozenLake-v0"
    assert composed("env=math", "model=tiny").model.name == "tiny"  # the command line still wins
    assert composed().model.name == "tiny"


@pytest.mark.parametrize(
    ("overrides", "lines"),
    [(["env=textarena", "env.kwargs.game=FrozenLake-v0"], 1), (["env=textarena"], 0), ([], 0)],
)
def test_run_prints_it_once_before_any_work(overrides, lines, monkeypatch, capsys):
    import layerverl.trainer

    monkeypatch.setattr(layerverl.trainer, "train", lambda cfg, out_dir: {})
    cli.run(composed(*overrides))
    assert capsys.readouterr().err.count("warning: model=") == lines
