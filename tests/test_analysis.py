"""Layer-contribution analysis on hand-made numbers and a synthetic sweep directory (no training)."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from layerverl.analysis import (
    align_by_depth,
    analyze,
    bootstrap_success,
    compare,
    contribution,
    correlations,
    jaccard,
    load_sweep,
    majority_vote,
    percentile_ci,
    write_profile,
)
from layerverl.analysis.__main__ import main as analysis_main
from layerverl.analysis.dynamics import dynamics_line, dynamics_rows, training_tail
from layerverl.analysis.weights import layer_weight_changes, sweep_weight_changes
from layerverl.layers import resolve_layers

NUM_LAYERS = 8
C_TRUE = [0.3, 0.5, 0.8, 1.0, 1.1, 0.9, 0.4, 0.2]  # S_k = 0.2 + 0.4 C with S_base 0.2, S_full 0.6
STRATEGIES = {
    "only-top3": ("top3", None, 0.66),
    "boost-top3": ("all", "top3", 0.70),
    "mid3": ("mid3", None, 0.62),
}


def write_run(
    directory: Path,
    spec,
    seed: int,
    success: float,
    base: float = 0.2,
    episodes: int = 100,
    iterations: int = 10,
    boost=None,
    num_layers: int = NUM_LAYERS,
    won: list[int] | None = None,
    model_path: str | None = None,
    lr: float = 0.01,
) -> Path:
    """A finished run as the trainer writes it: summary.json, config.yaml (JSON is YAML) and optionally
    episodes.jsonl with the given per-episode outcomes."""
    directory.mkdir(parents=True)
    layers = (
        resolve_layers(spec, num_layers, {k: -k for k in range(num_layers)})
        if boost is None
        else list(range(num_layers))
    )

    def result(s):
        half = episodes // 2
        return {
            "success": s,
            "ci": [0, 1],
            "episodes": episodes,
            "per_task_type": {
                "pick": {"success": s, "ci": [0, 1], "episodes": half},
                "heat": {"success": s, "ci": [0, 1], "episodes": episodes - half},
            },
        }

    summary = {
        "env": "alfworld",
        "algo": "gigpo",
        "model": "tiny",
        "layers": layers,
        "num_layers": num_layers,
        "trainable_params": 1,
        "total_params": 8,
        "wall_time_s": 1.0,
        "iterations": iterations,
        "base": {"valid_unseen": result(base)},
        "final": {"valid_unseen": result(success)},
    }
    (directory / "summary.json").write_text(json.dumps(summary))
    config = {
        "seed": seed,
        "layer": {"spec": spec, "boost": boost, "profile": None},
        "trainer": {"iterations": iterations, "lr": lr},
        "model": {"path": model_path},
    }
    (directory / "config.yaml").write_text(json.dumps(config))
    if won is not None:
        base_won = [1] * round(base * len(won)) + [0] * (len(won) - round(base * len(won)))
        lines = [
            {"phase": phase, "split": "valid_unseen", "episode": i, "won": bool(w), "task_type": "pick"}
            for phase, outcomes in (("base", base_won), ("final", won))
            for i, w in enumerate(outcomes)
        ]
        (directory / "episodes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return directory


def make_sweep(
    root: Path, seeds=(0, 1), num_layers: int = NUM_LAYERS, c_true=C_TRUE, strategies=True
) -> Path:
    """Base, full, every layer and three strategies, each seed scoring exactly S_k."""
    for seed in seeds:
        write_run(
            root / f"alfworld-gigpo-base-seed{seed}", "all", seed, 0.2, iterations=0, num_layers=num_layers
        )
        write_run(
            root / f"alfworld-gigpo-layerall-seed{seed}", "all", seed, 0.6, num_layers=num_layers, lr=3e-4
        )
        for k, c in enumerate(c_true):
            write_run(
                root / f"alfworld-gigpo-layer{k}-seed{seed}",
                k,
                seed,
                round(0.2 + 0.4 * c, 4),
                num_layers=num_layers,
            )
        for name, (spec, boost, success) in STRATEGIES.items() if strategies else ():
            write_run(
                root / f"alfworld-gigpo-{name}-seed{seed}",
                spec,
                seed,
                success,
                boost=boost,
                num_layers=num_layers,
            )
    return root


def test_contribution_of_known_scores():
    assert contribution(0.5, 0.2, 0.6) == pytest.approx(0.75)
    assert contribution(0.7, 0.2, 0.6) == pytest.approx(1.25)
    assert contribution(0.1, 0.2, 0.6) == pytest.approx(-0.25)
    assert np.isnan(contribution(0.5, 0.4, 0.4))
    np.testing.assert_allclose(contribution([0.2, 0.6], 0.2, 0.6), [0.0, 1.0])


def test_bootstrap_ci_contains_point_and_shrinks_with_more_episodes():
    rng = np.random.default_rng(0)
    widths = []
    for episodes in (50, 800):
        runs = [np.r_[np.ones(episodes * 3 // 10), np.zeros(episodes - episodes * 3 // 10)] for _ in range(3)]
        low, high = percentile_ci(bootstrap_success(runs, 2000, rng))
        assert low <= 0.3 <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_over_seeds_widens_the_interval_when_seeds_disagree():
    rng = np.random.default_rng(0)
    agree = [np.r_[np.ones(50), np.zeros(50)]] * 3
    disagree = [np.r_[np.ones(n), np.zeros(100 - n)] for n in (20, 50, 80)]
    width = [np.subtract(*percentile_ci(bootstrap_success(r, 2000, rng))[::-1]) for r in (agree, disagree)]
    assert width[1] > 1.5 * width[0]


def test_paired_episodes_make_identical_runs_agree_in_every_replicate():
    rng = np.random.default_rng(1)
    outcomes = rng.integers(0, 2, 100).astype(float)
    index = rng.integers(0, 100, (500, 100))
    base = bootstrap_success([np.zeros(100)], 500, rng, index)
    full = bootstrap_success([outcomes], 500, rng, index)
    layer = bootstrap_success([outcomes.copy()], 500, rng, index)
    c = contribution(layer, base, full)
    np.testing.assert_allclose(c[np.isfinite(c)], 1.0)


def test_correlations_identical_reversed_and_scipy_p_values():
    a = np.arange(8.0)
    same, reverse = correlations(a, a * 2 + 1), correlations(a, -a)
    assert same["spearman"] == pytest.approx(1) and same["kendall"] == pytest.approx(1)
    assert reverse["spearman"] == pytest.approx(-1) and reverse["kendall"] == pytest.approx(-1)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=20), rng.normal(size=20)
    got = correlations(x, y)
    assert got["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue)
    assert got["kendall_p"] == pytest.approx(stats.kendalltau(x, y).pvalue)
    assert got["pearson"] == pytest.approx(stats.pearsonr(x, y).statistic)
    with pytest.raises(ValueError, match="at least 3"):
        correlations([1, 2], [1, 2])


def test_align_by_depth_interpolates_the_denser_sweep():
    depth_a, depth_b = np.arange(8) / 8, np.arange(16) / 16
    grid, a, b = align_by_depth(depth_a, 2 * depth_a, depth_b, 2 * depth_b + 1)
    np.testing.assert_allclose(grid, depth_a[depth_a <= depth_b.max()])
    np.testing.assert_allclose(b, 2 * grid + 1)
    np.testing.assert_allclose(a, 2 * grid)


def test_analyze_synthetic_sweep(tmp_path):
    result = analyze(load_sweep(make_sweep(tmp_path)), n_boot=300)
    assert result.split == "valid_unseen" and not result.paired
    np.testing.assert_allclose([r.contribution for r in result.layer_rows], C_TRUE, atol=1e-9)
    for row in result.rows:
        if row.setting != "base":
            assert (
                row.contribution_ci[0] <= row.contribution + 1e-9
                and row.contribution - 1e-9 <= row.contribution_ci[1]
            )
    summary = result.summary()
    assert summary["S_base"] == pytest.approx(0.2) and summary["S_full"] == pytest.approx(0.6)
    assert summary["layers_c_ge_1"] == [3, 4]
    assert summary["best"]["layer"] == 4 and summary["worst"]["layer"] == 7
    assert summary["strategies"]["only-top3"]["C"] == pytest.approx(1.15)
    assert summary["strategies"]["boost-top3"]["over_full"] == pytest.approx(0.25)
    assert summary["strategies"]["mid3"]["C"] == pytest.approx(1.05)
    pick = [r for r in result.per_task_type if r["task_type"] == "pick" and r["layer"] == 4]
    assert pick[0]["C"] == pytest.approx(1.1)


def test_base_falls_back_to_the_training_runs_base_evaluation(tmp_path):
    make_sweep(tmp_path, seeds=(0,), strategies=False)
    for run in tmp_path.glob("*-base-seed*"):
        (run / "summary.json").unlink()
    result = analyze(load_sweep(tmp_path), n_boot=100)
    assert result.get("base").success == pytest.approx(0.2)


def test_incomplete_runs_are_skipped_and_full_is_required(tmp_path):
    make_sweep(tmp_path, seeds=(0,), strategies=False)
    (tmp_path / "alfworld-gigpo-layer2-seed0" / "summary.json").write_text('{"env": "alfworld"')
    sweep = load_sweep(tmp_path)
    assert sweep.layers() == [0, 1, 3, 4, 5, 6, 7] and len(sweep.skipped) == 1
    (tmp_path / "alfworld-gigpo-layerall-seed0" / "summary.json").unlink()
    with pytest.raises(ValueError, match="full-parameter"):
        analyze(load_sweep(tmp_path), n_boot=10)


def test_profile_ranks_layers_for_top_k(tmp_path):
    result = analyze(load_sweep(make_sweep(tmp_path / "sweep", seeds=(0,), strategies=False)), n_boot=50)
    profile = write_profile(result, tmp_path / "profile.json")
    assert resolve_layers("top3", NUM_LAYERS, profile) == [3, 4, 5]
    assert resolve_layers("bottom2", NUM_LAYERS, profile) == [0, 7]


def test_profile_of_a_partial_scan_interpolates_unmeasured_layers(tmp_path):
    make_sweep(tmp_path / "sweep", seeds=(0,), strategies=False)
    for k in (1, 3, 5, 7):
        (tmp_path / "sweep" / f"alfworld-gigpo-layer{k}-seed0" / "summary.json").unlink()
    result = analyze(load_sweep(tmp_path / "sweep"), n_boot=50)
    data = json.loads(write_profile(result, tmp_path / "profile.json").read_text())
    assert data["measured"] == [0, 2, 4, 6]
    assert data["contribution"]["3"] == pytest.approx((0.8 + 1.1) / 2)
    assert data["contribution"]["7"] == pytest.approx(0.4)


def test_compare_by_layer_and_by_relative_depth(tmp_path):
    a = analyze(load_sweep(make_sweep(tmp_path / "a", seeds=(0,), strategies=False)), n_boot=50)
    b = analyze(
        load_sweep(
            make_sweep(tmp_path / "b", seeds=(0,), strategies=False, c_true=[1.2 - c for c in C_TRUE])
        ),
        n_boot=50,
    )
    assert compare(a, a)["spearman"] == pytest.approx(1) and compare(a, a)["matched_by"] == "layer"
    assert compare(a, b)["spearman"] == pytest.approx(-1)
    deep_c = list(np.interp(np.arange(16) / 16, np.arange(8) / 8, C_TRUE))
    deep = analyze(
        load_sweep(make_sweep(tmp_path / "deep", seeds=(0,), num_layers=16, strategies=False, c_true=deep_c)),
        n_boot=50,
    )
    by_depth = compare(a, deep)
    assert by_depth["matched_by"] == "relative depth" and by_depth["n"] == 8
    assert by_depth["spearman"] == pytest.approx(1, abs=0.02)


def test_majority_vote_and_jaccard():
    models = [
        {0: {"won": True}, 1: {"won": True}, 2: {"won": False}},
        {0: {"won": True}, 1: {"won": False}, 2: {"won": False}},
        {0: {"won": False}, 1: {"won": True}, 2: {"won": True}},
    ]
    assert majority_vote(models) == {0: True, 1: True, 2: False}
    answers = [
        {0: {"won": False, "answer": "7"}},
        {0: {"won": True, "answer": "8"}},
        {0: {"won": True, "answer": "8"}},
    ]
    assert majority_vote(answers) == {0: True}
    assert jaccard({1, 2, 3}, {2, 3, 4}) == pytest.approx(0.5)
    assert np.isnan(jaccard(set(), set()))


def test_paired_sweep_with_episodes_and_ensemble(tmp_path):
    rng = np.random.default_rng(3)
    for k in range(4):
        won = (rng.random(60) < 0.5).astype(int).tolist()
        write_run(
            tmp_path / f"alfworld-gigpo-layer{k}-seed0",
            k,
            0,
            sum(won) / 60,
            episodes=60,
            won=won,
            num_layers=4,
        )
    won = [1] * 45 + [0] * 15
    write_run(tmp_path / "alfworld-gigpo-layerall-seed0", "all", 0, 0.75, episodes=60, won=won, num_layers=4)
    sweep = load_sweep(tmp_path)
    result = analyze(sweep, n_boot=200)
    assert result.paired and sweep.has_episodes()
    from layerverl.analysis import ensemble_report

    report = ensemble_report(sweep, result, k=3)
    assert len(report["layers"]) == 3 and report["episodes"] == 60
    assert report["union_success"] >= report["best_single_success"] >= 0
    assert 0 <= report["jaccard_mean"] <= 1 and len(report["jaccard_pairs"]) == 3


def test_layer_weight_changes_by_hand():
    initial = {
        "model.layers.0.mlp.weight": np.zeros((2, 2)),
        "model.layers.0.norm.weight": np.ones(2),
        "model.layers.3.mlp.weight": np.zeros(3),
        "model.embed_tokens.weight": np.zeros(2),
    }
    trained = {
        "model.layers.0.mlp.weight": np.full((2, 2), 1.0),
        "model.layers.0.norm.weight": np.ones(2) + 3,
        "model.layers.3.mlp.weight": np.array([0.0, 3.0, 4.0]),
        "model.embed_tokens.weight": np.ones(2),
    }
    assert layer_weight_changes(trained, initial) == pytest.approx({0: np.sqrt(4 + 18), 3: 5.0})


def test_sweep_weight_changes_reads_checkpoints_and_base_weights(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    initial = {f"model.layers.{k}.mlp.weight": torch.zeros(2, 2) for k in range(2)}
    save_file(initial, str(model_dir / "model.safetensors"))
    (model_dir / "config.json").write_text(json.dumps({"num_hidden_layers": 2}))
    full = write_run(
        tmp_path / "sweep/alfworld-gigpo-layerall-seed0",
        "all",
        0,
        0.6,
        num_layers=2,
        model_path=str(model_dir),
    )
    one = write_run(
        tmp_path / "sweep/alfworld-gigpo-layer1-seed0", 1, 0, 0.5, num_layers=2, model_path=str(model_dir)
    )
    for run, trained in (
        (full, {k: v + 1 for k, v in initial.items()}),
        (one, {"model.layers.1.mlp.weight": torch.full((2, 2), 2.0)}),
    ):
        (run / "checkpoints").mkdir()
        torch.save({"trained": trained}, run / "checkpoints" / "latest.pt")
    rows = sweep_weight_changes(load_sweep(tmp_path / "sweep"))
    norms = {(r["setting"], r["layer"]): r["norm"] for r in rows}
    assert norms == pytest.approx({("full", 0): 2.0, ("full", 1): 2.0, ("layer", 1): 4.0})
    for run in (full, one):  # a results page keeps runs without checkpoints: the norms kept beside them stand
        (run / "checkpoints" / "latest.pt").unlink()
    assert sweep_weight_changes(load_sweep(tmp_path / "sweep")) == rows


def test_cli_end_to_end_writes_tables_plots_and_profile(tmp_path, capsys):
    make_sweep(tmp_path / "alfworld")
    make_sweep(
        tmp_path / "other", seeds=(0,), strategies=False, c_true=[0.2, 0.6, 0.7, 1.0, 1.2, 0.8, 0.5, 0.1]
    )
    out = tmp_path / "results"
    assert (
        analysis_main(
            [
                str(tmp_path / "alfworld"),
                "--compare",
                str(tmp_path / "other"),
                "--out",
                str(out),
                "--boot",
                "200",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "layers with C >= 1: 2 [3, 4]" in printed and "Spearman" in printed and "only-top3" in printed
    assert "algo=gigpo trainer.iterations=10 trainer.lr=0.01 full_lr=0.0003 seeds=3 strategies=3" in printed
    assert (
        "trainer.lr=0.0003 layer=all layer.boost=top3" in printed and "trainer.lr=0.01 layer=top3" in printed
    )
    for name in (
        "contribution.csv",
        "contribution.md",
        "runs.csv",
        "per_task_type.csv",
        "profile.json",
        "analysis.json",
        "success_bars.png",
        "contribution_by_layer.png",
        "contribution_by_depth.png",
        "rank_scatter.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "contribution.csv").read_text().count("\n") == 1 + 2 + NUM_LAYERS + len(STRATEGIES)
    analysis = json.loads((out / "analysis.json").read_text())
    assert analysis["comparison"]["n"] == NUM_LAYERS and analysis["comparison"]["spearman"] > 0.8


def test_strategy_commands_name_the_profiled_model(tmp_path):
    from layerverl.analysis.__main__ import _sweep_args

    sweep = make_sweep(tmp_path / "s", seeds=(0,), strategies=False)
    assert "model=" not in _sweep_args(load_sweep(sweep))[0]  # the default tiny policy needs no override
    for summary_path in sweep.glob("*/summary.json"):
        summary = json.loads(summary_path.read_text())
        summary_path.write_text(json.dumps({**summary, "model": "smollm2-135m-instruct"}))
    args, lr, full_lr = _sweep_args(load_sweep(sweep))
    assert args == "env=alfworld algo=gigpo model=smollm2-135m-instruct trainer.iterations=10"
    assert (lr, full_lr) == (0.01, 0.0003)


def test_weight_change_plot_is_written(tmp_path):
    from layerverl.analysis.plots import plot_weight_change

    result = analyze(load_sweep(make_sweep(tmp_path / "s", seeds=(0,), strategies=False)), n_boot=20)
    rows = [{"setting": "layer", "layer": k, "seed": 0, "norm": 0.1 * k} for k in range(NUM_LAYERS)]
    rows += [{"setting": "full", "layer": k, "seed": 0, "norm": 0.5} for k in range(NUM_LAYERS)]
    assert plot_weight_change(result, rows, tmp_path / "w.png").stat().st_size > 0


def test_cli_reports_a_missing_sweep(tmp_path, capsys):
    assert analysis_main([str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    assert "no finished run" in capsys.readouterr().err


def test_answer_breakdown_sorts_what_a_single_turn_gain_consists_of(tmp_path, capsys):
    from layerverl.analysis.answers import answer_kind, main

    def record(phase, episode, won, answer, response):
        return {
            "phase": phase,
            "split": "test",
            "episode": episode,
            "won": won,
            "answer": answer,
            "response": response,
        }

    records = [
        record("base", 0, False, None, "1 + 1 = 2"),
        record("base", 1, False, "1 + 25", "\\boxed{1 + 25}"),
        record("final", 0, True, "2", "\\boxed{2}"),
        record("final", 1, False, "27", "\\boxed{27}"),
    ]
    assert [answer_kind(r) for r in records] == ["no answer", "expression", "correct", "wrong number"]
    path = tmp_path / "run" / "episodes.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main([str(path), "--out", str(tmp_path / "out")]) == 0
    assert "final: correct 50.0%, wrong number 50.0%" in capsys.readouterr().out
    shown = json.loads((tmp_path / "out" / "answer_examples.json").read_text())["run/episodes.jsonl"]
    assert shown[1]["base_response"] == "\\boxed{1 + 25}" and shown[1]["final_response"] == "\\boxed{27}"


def write_metrics(run_dir: Path, updated: list[int], returns: list[float], samples: int = 64) -> None:
    """metrics.jsonl as the trainer writes it: per iteration, samples rolled out and kept for the update."""
    lines = [
        {
            "iteration": i + 1,
            "train/step_samples": samples,
            "train/update_samples": u,
            "train/episode_return": r,
            "train/success_rate": max(r - 0.1, 0.0),
        }
        for i, (u, r) in enumerate(zip(updated, returns, strict=True))
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_training_tail_finds_where_a_run_stalled(tmp_path):
    learning, stalled = tmp_path / "learning", tmp_path / "stalled"
    learning.mkdir(), stalled.mkdir()
    write_metrics(learning, [8, 20, 32, 40, 3, 30, 28, 36, 20, 24], [0.1 * i for i in range(10)])
    write_metrics(
        stalled, [8, 20, 32, 12, 4, 0, 0, 4, 0, 0], [0.0, 0.02, 0.05, 0.08, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    )
    going = training_tail(learning)
    assert not going["stalled"] and going["stalled_from"] is None
    assert going["updated_tail"] == pytest.approx((30 + 28 + 36 + 20 + 24) / 64 / 5)
    assert going["return_tail"] == pytest.approx(0.7)
    tail = training_tail(stalled)
    assert tail["stalled"] and tail["stalled_from"] == 5  # iteration 4 still updated on 12 of 64
    assert tail["return_tail"] == pytest.approx(0.1) and tail["iterations"] == 10
    assert training_tail(tmp_path / "nothing") is None


def test_dynamics_rows_of_a_sweep_and_the_summary_line(tmp_path):
    make_sweep(tmp_path, seeds=(0,), strategies=False)
    write_metrics(tmp_path / "alfworld-gigpo-layer2-seed0", [0] * 10, [0.1] * 10)
    write_metrics(tmp_path / "alfworld-gigpo-layer3-seed0", [30] * 10, [0.5] * 10)
    rows = dynamics_rows(load_sweep(tmp_path), "valid_unseen")
    assert [(r["layer"], r["stalled"]) for r in rows] == [(2, True), (3, False)]
    assert rows[0]["S"] == pytest.approx(0.2 + 0.4 * C_TRUE[2])
    line = dynamics_line(rows)
    assert "1 of 2 runs [L2 s0]" in line and f"stalled {100 * rows[0]['S']:.1f}%" in line


def test_top_k_of_a_partial_scan_ranks_only_measured_layers(tmp_path):
    make_sweep(tmp_path / "sweep", seeds=(0,), strategies=False)
    for k in (1, 3, 5, 7):  # unmeasured 3 interpolates to 0.95, above measured 2 (0.8) and 6 (0.4)
        (tmp_path / "sweep" / f"alfworld-gigpo-layer{k}-seed0" / "summary.json").unlink()
    profile = write_profile(analyze(load_sweep(tmp_path / "sweep"), n_boot=50), tmp_path / "profile.json")
    assert resolve_layers("top3", NUM_LAYERS, profile) == [2, 4, 6]
    assert resolve_layers("bottom2", NUM_LAYERS, profile) == [0, 6]
    with pytest.raises(ValueError, match="measured only 4 layers"):
        resolve_layers("top5", NUM_LAYERS, profile)
