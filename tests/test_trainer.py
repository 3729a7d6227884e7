"""The local trainer end to end on a tiny model built here: what trains, what stays, resume, every env/algo."""

import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from transformers import AutoModelForCausalLM

import envs
import layerverl.trainer as trainer_module
from agents.tiny import TinyConfig, build_model, train_tokenizer
from layerverl.config import CONFIG_DIR, ConfigError, normalize_argv
from layerverl.evaluate import evaluate_run
from layerverl.evaluate import main as evaluate_main
from layerverl.report import rolling_mean
from layerverl.trainer import train

FAST = [
    "trainer.iterations=2",
    "trainer.groups=2",
    "trainer.group_size=2",
    "trainer.eval_episodes=2",
    "trainer.eval_batch_size=2",
    "trainer.micro_batch_size=8",
    "trainer.checkpoint_every=1",
    "trainer.drop_zero_advantage=false",
    "algo.loss.entropy_coeff=0.01",
    "model.max_new_tokens=6",
    "++env.kwargs.max_steps=3",
    "++model.env_kwargs.alfworld.max_steps=3",
]


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    """A 4-layer tiny model with a tokenizer trained on ALFWorld-style text, saved like any HF checkpoint."""
    env = envs.make("alfworld")
    texts = []
    for seed in range(20):
        observation, info = env.reset(seed=seed)
        texts += [observation, *info["admissible_actions"]]
    tokenizer = train_tokenizer(texts + ["task : | actions : <action> </action>"])
    model = build_model(
        tokenizer,
        TinyConfig(
            hidden_size=32, num_layers=4, num_heads=2, num_kv_heads=1, head_dim=16, intermediate_size=64
        ),
    )
    path = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def config(tiny_path, *overrides):
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "config", overrides=[*FAST, f"model.path={tiny_path}", *normalize_argv(list(overrides))]
        )


def test_only_the_chosen_layer_changes(tiny_path, tmp_path):
    summary = train(config(tiny_path, "layer=2", "trainer.export_merged=true"), tmp_path)
    before = AutoModelForCausalLM.from_pretrained(tiny_path).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").state_dict()
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]) != name.startswith("model.layers.2."), name
    assert summary["layers"] == [2]
    assert summary["optimizer_params"] == summary["trainable_params"] < summary["total_params"]
    assert set(torch.load(tmp_path / "checkpoints" / "latest.pt", weights_only=False)["trained"]) == {
        n for n in before if n.startswith("model.layers.2.")
    }
    for name in ("config.yaml", "metrics.jsonl", "summary.json", "report.md", "curves.png", "episodes.jsonl"):
        assert (tmp_path / name).stat().st_size > 0
    episodes = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert [(e["phase"], e["split"], e["episode"]) for e in episodes] == [
        (phase, "valid_unseen", i) for phase in ("base", "final") for i in range(2)
    ]
    won = {(e["phase"], e["episode"]): e["won"] for e in episodes}
    paired = summary["paired"]["valid_unseen"]
    assert paired["episodes"] == 2 and paired["only_after"] == sum(
        won["final", i] > won["base", i] for i in range(2)
    )
    assert "the same 2 tasks before and after" in (tmp_path / "report.md").read_text()


def test_layer_all_trains_everything(tiny_path, tmp_path):
    summary = train(config(tiny_path, "layer=all", "trainer.export_merged=true"), tmp_path)
    before = AutoModelForCausalLM.from_pretrained(tiny_path).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").state_dict()
    assert all(not torch.equal(tensor, after[name]) for name, tensor in before.items())
    assert summary["trainable_params"] == summary["total_params"] == summary["optimizer_params"]


def test_boost_from_a_profile_trains_every_layer_and_records_the_boosted(tiny_path, tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"contribution": {"0": 0.1, "1": 0.9, "2": 0.5, "3": -1.0}}))
    cfg = config(
        tiny_path, "layer=all", "layer.boost=top2", f"layer.profile={profile}", "trainer.iterations=1"
    )
    summary = train(cfg, tmp_path / "run")
    assert summary["layers"] == [0, 1, 2, 3] and summary["boost"] == [1, 2]
    groups = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=False)["optimizer"][
        "param_groups"
    ]
    assert sorted({g["lr"] for g in groups}) == pytest.approx(
        [cfg.trainer.lr, cfg.trainer.lr * cfg.layer.boost_lr_factor]
    )


def test_interrupted_run_resumes_to_the_same_result(tiny_path, tmp_path, monkeypatch):
    cfg = config(tiny_path, "trainer.iterations=3")
    uninterrupted = train(cfg, tmp_path / "a")
    real_rollout = trainer_module.rollout_iteration

    def crash_at_third(run, cfg, iteration):
        if iteration == 2:
            raise KeyboardInterrupt("killed")
        return real_rollout(run, cfg, iteration)

    monkeypatch.setattr(trainer_module, "rollout_iteration", crash_at_third)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "b")
    monkeypatch.setattr(trainer_module, "rollout_iteration", real_rollout)
    resumed = train(cfg, tmp_path / "b")
    assert resumed["final"] == uninterrupted["final"]

    def without_times(path):
        return [
            {k: v for k, v in json.loads(line).items() if not k.startswith("time/")}
            for line in path.read_text().splitlines()
        ]

    assert without_times(tmp_path / "b" / "metrics.jsonl") == without_times(tmp_path / "a" / "metrics.jsonl")


def test_resume_refuses_another_config(tiny_path, tmp_path):
    first = train(config(tiny_path, "trainer.iterations=1", "backend.threads=1"), tmp_path)
    with pytest.raises(ValueError, match="another config"):
        train(config(tiny_path, "trainer.iterations=1", "trainer.lr=0.5"), tmp_path)
    again = train(
        config(tiny_path, "trainer.iterations=1", "backend.threads=2"), tmp_path
    )  # speed only: resumes
    assert again["final"] == first["final"]


@pytest.mark.parametrize("algo", ["gigpo", "grpo", "drgrpo"])
@pytest.mark.parametrize("env", ["alfworld", "webshop", "textarena", "math", "code"])
def test_every_env_and_algo_runs_two_iterations(tiny_path, tmp_path, env, algo):
    overrides = [
        f"env={env}",
        f"algo={algo}",
        "model=tiny",
    ]  # env=math defaults to SmolLM2; this is the tiny one
    if env in ("math", "code"):  # single-turn envs take no max_steps
        overrides.append("~env.kwargs.max_steps")
        overrides.append("env.kwargs.num_problems=8" if env == "math" else "env.kwargs.limit=4")
    summary = train(config(tiny_path, *overrides), tmp_path)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and summary["iterations"] == 2


def test_learning_rate_schedule(tiny_path):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cfg = config(
        tiny_path,
        "trainer.iterations=10",
        "trainer.warmup_iterations=2",
        "trainer.lr_schedule=cosine",
        "trainer.lr=1e-3",
    )
    rates = [trainer_module.set_learning_rate(optimizer, cfg, i) for i in range(10)]
    assert (
        rates[0] == pytest.approx(5e-4)
        and rates[1] == pytest.approx(1e-3)
        and rates[2] == pytest.approx(1e-3)
    )
    assert rates[-1] < 1e-4 and all(a >= b for a, b in zip(rates[1:-1], rates[2:], strict=True))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(rates[-1])


def test_bad_schedule_stops_before_any_work(tiny_path, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_module, "setup", lambda cfg: pytest.fail("setup ran"))
    with pytest.raises(ValueError, match="lr_schedule"):
        train(config(tiny_path, "trainer.lr_schedule=step"), tmp_path)


def test_kl_to_a_layer_only_reference(tiny_path, tmp_path):
    train(config(tiny_path, "layer=2", "algo.loss.kl_coef=0.1", "trainer.mini_batches=1"), tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["actor/kl_loss"] == pytest.approx(0.0, abs=1e-6)  # first update: policy == reference
    assert rows[1]["actor/kl_loss"] > 0.0


def test_training_curves_are_smoothed_over_the_last_iterations():
    assert rolling_mean([1, 2, 3, 4, 5, 6], window=3) == [1, 1.5, 2, 3, 4, 5]
    assert rolling_mean([]) == []


def test_mid_run_evaluations_use_the_summary_split_keys(tiny_path, tmp_path):
    """TextArena has no splits: its evaluations are keyed "eval" in the summary and in metrics.jsonl alike."""
    summary = train(config(tiny_path, "env=textarena", "trainer.eval_every=1"), tmp_path)
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert list(summary["final"]) == ["eval"] and "eval/eval/success" in first


def test_evaluate_run_reproduces_the_run_and_takes_other_settings(tiny_path, tmp_path, capsys):
    summary = train(config(tiny_path, "layer=2", "trainer.lr=0.05"), tmp_path)
    again, _ = evaluate_run(tmp_path)
    assert again["base"] == summary["base"] and again["final"] == summary["final"]
    assert again["paired"] == summary["paired"] and again["iteration"] == 2
    evaluate_main([str(tmp_path), "trainer.eval_temperature=1.0", "trainer.eval_episodes=3", "seed=5"])
    record = json.loads((tmp_path / "evaluations.jsonl").read_text().splitlines()[-1])
    assert record["final"]["valid_unseen"]["episodes"] == record["paired"]["valid_unseen"]["episodes"] == 3
    assert "valid_unseen at iteration 2 (trainer.eval_temperature=1.0" in capsys.readouterr().out
    episodes = [json.loads(x) for x in (tmp_path / "evaluation-0-episodes.jsonl").read_text().splitlines()]
    assert [e["phase"] for e in episodes] == ["base"] * 3 + ["final"] * 3 and "response" in episodes[0]
    with pytest.raises(ConfigError, match="trainer.lr=1.*one of seed, trainer.eval_temperature"):
        evaluate_run(tmp_path, ["trainer.lr=1"])
    with pytest.raises(ConfigError, match="holds no checkpoint"):
        evaluate_run(tmp_path / "elsewhere")
