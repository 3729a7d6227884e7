"""Sweep planning: which runs are done, resumed, new or in conflict, and the multirun commands (no training)."""

import json
import os
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from layerverl.config import ConfigError, normalize_argv
from layerverl.sweep import (
    Job,
    compose,
    job_config,
    main,
    parse_layers,
    parse_seeds,
    plan_sweep,
    run_dir_name,
    run_side_by_side,
    run_status,
    strategy_overrides,
    summary_complete,
)

SUMMARY = {
    "env": "alfworld",
    "algo": "gigpo",
    "layers": [2],
    "num_layers": 4,
    "iterations": 3,
    "base": {"valid_unseen": {"success": 0.1, "ci": [0, 1], "episodes": 10}},
    "final": {"valid_unseen": {"success": 0.4, "ci": [0, 1], "episodes": 10}},
}


def finish(run_dir: Path, config: dict, summary: dict | None = SUMMARY, checkpoint: bool = False) -> Path:
    """A run directory as the trainer leaves it: config.yaml, and summary.json and/or a checkpoint."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config), resolve=True))
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    if checkpoint:
        (run_dir / "checkpoints").mkdir()
        (run_dir / "checkpoints" / "latest.pt").write_bytes(b"x")
    return run_dir


def test_parse_seeds_and_layers():
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,5") == [0, 5] and parse_seeds("7,") == [7]
    assert parse_layers("all", 4) == [0, 1, 2, 3] and parse_layers("every2", 5) == [0, 2, 4]
    assert parse_layers("none", 4) == [] and parse_layers("3,0,-1", 8) == [0, 3, 7]
    for bad in ("0", "x"):
        with pytest.raises(ConfigError, match="seeds"):
            parse_seeds(bad)
    with pytest.raises(ConfigError, match="valid indices are 0..3"):
        parse_layers("4", 4)


def test_summary_complete():
    assert summary_complete(SUMMARY)
    assert not summary_complete({**SUMMARY, "final": {}})
    assert not summary_complete({**SUMMARY, "final": {"other": SUMMARY["final"]["valid_unseen"]}})
    assert not summary_complete({k: v for k, v in SUMMARY.items() if k != "iterations"})


def test_run_status_on_a_fake_tree(tmp_path):
    config = {"seed": 0, "trainer": {"iterations": 3}}
    assert run_status(tmp_path / "missing") == "new"
    assert run_status(finish(tmp_path / "done", config), config) == "done"
    assert run_status(finish(tmp_path / "crashed", config, None, checkpoint=True), config) == "resume"
    half = finish(tmp_path / "half", config, None, checkpoint=True)
    (half / "summary.json").write_text('{"env": "alfw')  # killed while writing: not finished
    assert run_status(half, config) == "resume"
    assert run_status(tmp_path / "done", {**config, "seed": 1}) == "conflict"


def test_job_config_matches_hydra_composition():
    cfg = compose(["trainer.iterations=3"])
    for overrides, job in (
        (["layer=2", "seed=1"], Job("layer2", 1, ("layer=2",), "layer")),
        (
            ["layer=all", "layer.boost=top2", "layer.profile=/p.json", "seed=0"],
            Job("boost-top2", 0, ("layer=all", "layer.boost=top2", "layer.profile=/p.json"), "b"),
        ),
    ):
        composed = OmegaConf.to_container(
            compose(normalize_argv(["trainer.iterations=3", *overrides])), resolve=True
        )
        assert job_config(cfg, job) == composed


def test_plan_skips_done_resumes_crashed_and_groups_the_rest(tmp_path):
    args = ["trainer.iterations=3", "layers=0,2", "seeds=2", "num_layers=4", f"sweep_dir={tmp_path}"]
    cfg = compose(["trainer.iterations=3"])
    done = [
        Job("base", 0, ("layer=all", "trainer.iterations=0"), "base"),
        Job("layerall", 0, ("layer=all",), "layer"),
        Job("layer0", 0, ("layer=0",), "layer"),
        Job("layer2", 0, ("layer=2",), "layer"),
    ]
    for job in done:
        finish(tmp_path / run_dir_name(cfg, job), job_config(cfg, job))
    crashed = Job("layer2", 1, ("layer=2",), "layer")
    finish(tmp_path / run_dir_name(cfg, crashed), job_config(cfg, crashed), None, checkpoint=True)

    plan = plan_sweep(args, python="python")
    assert plan.counts() == {"done": 4, "resume": 1, "new": 3, "conflict": 0}
    commands = [" ".join(c[1:]) for c in plan.commands]
    assert any(
        "layer=all,0,2 seed=1 " in c and "subdir=alfworld-gigpo-layer${layer.spec}-seed${seed}" in c
        for c in commands
    )
    base = next(c for c in commands if "subdir=alfworld-gigpo-base-seed${seed}" in c)
    assert "seed=1 " in base and "trainer.iterations=0" in base and "trainer.iterations=3" not in base
    assert all(f"hydra.sweep.dir={tmp_path}" in c for c in commands) and len(commands) == 2


def test_finished_sweep_launches_nothing_and_conflicts_stop(tmp_path, capsys):
    args = ["layers=none", "full=false", "seeds=1", "num_layers=4", f"sweep_dir={tmp_path}"]
    cfg = compose([])
    job = Job("base", 0, ("layer=all", "trainer.iterations=0"), "base")
    finish(tmp_path / run_dir_name(cfg, job), job_config(cfg, job))
    assert plan_sweep(args).commands == [] and main([*args, "--dry-run"]) == 0
    assert main(["trainer.lr=0.5", *args, "--dry-run"]) == 2
    assert "another config" in capsys.readouterr().err


def test_strategy_jobs_use_the_profile(tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"contribution": {str(k): k for k in range(4)}}))
    plan = plan_sweep(
        ["seeds=2", "strategies=2", f"profile={profile}", "num_layers=4", f"sweep_dir={tmp_path}"]
    )
    assert sorted({j.tag for j in plan.jobs}) == sorted(strategy_overrides(2, profile))
    commands = [" ".join(c) for c in plan.commands]
    assert len(commands) == 5 and all("seed=0,1" in c for c in commands)
    assert any(f"layer=all layer.boost=top2 layer.profile={profile}" in c for c in commands)
    with pytest.raises(ConfigError, match="profile"):
        plan_sweep(["strategies=2", "num_layers=4"])
    rated = plan_sweep(
        ["strategies=2", f"profile={profile}", "full_lr=3e-4", "num_layers=4", f"sweep_dir={tmp_path}"]
    )
    lrs = {j.tag: job_config(compose([]), j)["trainer"]["lr"] for j in rated.jobs}
    assert lrs["boost-top2"] == lrs["boost-bottom2"] == pytest.approx(3e-4)  # Boost trains every layer
    assert lrs["only-top2"] == lrs["mid2"] == compose([]).trainer.lr


def test_full_run_can_have_its_own_learning_rate(tmp_path):
    plan = plan_sweep(
        ["layers=0,1", "seeds=1", "full_lr=3e-4", "num_layers=4", f"sweep_dir={tmp_path}"], python="py"
    )
    full = next(j for j in plan.jobs if j.tag == "layerall")
    assert job_config(compose([]), full)["trainer"]["lr"] == pytest.approx(
        3e-4
    )  # a float, as Hydra parses it
    commands = [" ".join(c[1:]) for c in plan.commands]
    assert any(
        "layer=all trainer.lr=3e-4 seed=0 " in c and "subdir=alfworld-gigpo-layerall-seed${seed}" in c
        for c in commands
    )
    assert any(" layer=0,1 seed=0 " in c for c in commands)


def test_parallel_splits_by_seed_and_shares_the_cores(tmp_path):
    cfg = compose([])
    done = Job("base", 0, ("layer=all", "trainer.iterations=0"), "base")
    finish(
        tmp_path / run_dir_name(cfg, done),
        job_config(cfg, done) | {"backend": {"name": "local", "threads": 1}},
    )
    plan = plan_sweep(
        ["layers=0,1", "seeds=2", "parallel=2", "num_layers=4", f"sweep_dir={tmp_path}"], python="py"
    )
    assert plan.status[done] == "done"  # a run that went at another thread count is the same run
    threads = f"backend.threads={max(1, (os.cpu_count() or 1) // 2)}"
    commands = [" ".join(c[1:]) for c in plan.commands]
    assert (
        all(threads in c for c in commands) and len(commands) == 7
    )  # one per run: base 1; all, 0, 1 for seeds 0, 1
    assert sum(" layer=1 seed=0 " in c for c in commands) == 1 and sum("seed=0,1" in c for c in commands) == 0
    with pytest.raises(ConfigError, match="parallel"):
        plan_sweep(["parallel=0", "num_layers=4"])


def test_side_by_side_launch_logs_each_command_and_counts_failures(tmp_path):
    commands = [[sys.executable, "-c", f"print('run {k}'); raise SystemExit({k % 2})"] for k in range(3)]
    assert run_side_by_side(commands, 2, tmp_path) == 1
    assert [(tmp_path / f"launch-{k}.log").read_text().strip() for k in range(3)] == [
        "run 0",
        "run 1",
        "run 2",
    ]


def test_sweep_keys_the_sweep_sets_are_refused():
    assert main(["layer=3", "num_layers=4", "--dry-run"]) == 2
