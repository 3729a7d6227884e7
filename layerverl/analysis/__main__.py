"""`python -m layerverl.analysis <sweep_dir> [--compare <other_sweep_dir>] --out docs/results/<name>`.

Writes contribution.csv/.md, runs.csv, per_task_type.csv, dynamics.csv (how each run's training ended),
profile.json, analysis.json and the plots into --out, and prints a short summary with the strategy runs to
launch next.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layerverl.analysis import plots
from layerverl.analysis.compare import compare
from layerverl.analysis.contribution import analyze
from layerverl.analysis.dynamics import dynamics_line, dynamics_rows
from layerverl.analysis.ensembles import ensemble_report
from layerverl.analysis.runs import load_sweep
from layerverl.analysis.stats import correlations
from layerverl.analysis.strategies import strategy_commands, write_profile
from layerverl.analysis.tables import summary_lines, write_csv, write_tables


def main(argv: list[str] | None = None) -> int:
    """Analyze one sweep (and optionally compare it with another); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m layerverl.analysis", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="folder for tables, plots and profile.json")
    parser.add_argument("--compare", type=Path, help="a second sweep: rank correlations of C between the two")
    parser.add_argument("--split", help="evaluation split (default: the sweep's first)")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap RNG seed")
    parser.add_argument(
        "--k", type=int, default=3, help="K of the strategies (top/bottom/mid K) and ensembles"
    )
    parser.add_argument("--no-weights", action="store_true", help="skip the weight-change analysis")
    args = parser.parse_args(argv)

    try:
        sweep = load_sweep(args.sweep_dir)
        result = analyze(sweep, args.split, args.boot, args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    report = {"summary": result.summary()}
    write_tables(result, out)
    plots.plot_success_bars(result, out / "success_bars.png")
    lines = [
        f"{sweep.name} ({sweep.description}): {len(sweep.runs)} finished runs"
        + (f" ({len(sweep.skipped)} incomplete skipped)" if sweep.skipped else ""),
        *summary_lines(report["summary"]),
    ]
    report["dynamics"] = dynamics = dynamics_rows(sweep, result.split)
    if dynamics:
        write_csv(out / "dynamics.csv", dynamics)
        lines.append(dynamics_line(dynamics))
    compared = []
    if result.layer_rows:
        profile = write_profile(result, out / "profile.json")
        lines += [
            f"strategy runs (profile written to {profile}):",
            *strategy_commands(profile, args.k, *_sweep_args(sweep)),
        ]
    if args.compare:
        other = analyze(load_sweep(args.compare), args.split, args.boot, args.seed)
        compared = [other]
        report["comparison"] = stats = compare(result, other)
        plots.plot_rank_scatter(
            stats["C_a"],
            stats["C_b"],
            stats["points"],
            (stats["a"], stats["b"]),
            stats,
            out / "rank_scatter.png",
        )
        lines.append(
            f"vs {other.sweep_name} ({stats['n']} points by {stats['matched_by']}): "
            f"Spearman {stats['spearman']:.2f} (p={stats['spearman_p']:.2g}), Kendall {stats['kendall']:.2f} "
            f"(p={stats['kendall_p']:.2g}), Pearson {stats['pearson']:.2f}"
        )
    if result.layer_rows:
        plots.plot_contribution([result, *compared], out / "contribution_by_layer.png", by="layer")
        plots.plot_contribution([result, *compared], out / "contribution_by_depth.png", by="depth")
    if not args.no_weights:
        lines += _weights(sweep, result, out, report)
    if sweep.has_episodes() and len(result.layer_rows) >= 2:
        report["ensemble"] = ensemble = ensemble_report(sweep, result, args.k)
        lines.append(
            f"vote of layers {ensemble['layers']}: {ensemble['vote_success']:.3f} vs best single "
            f"{ensemble['best_single_success']:.3f}, full {ensemble['full_success']:.3f}; "
            f"mean Jaccard {ensemble['jaccard_mean']:.2f}"
        )
    (out / "analysis.json").write_text(json.dumps(report, indent=2, default=float))
    print("\n".join(lines))
    return 0


def _weights(sweep, result, out: Path, report: dict) -> list[str]:
    """Weight changes of runs with checkpoints: CSV, plot, and their correlation with C (single-layer runs)."""
    from layerverl.analysis.weights import sweep_weight_changes

    rows = sweep_weight_changes(sweep)
    if not rows:
        return []
    write_csv(out / "weight_change.csv", rows)
    plots.plot_weight_change(result, rows, out / "weight_change.png")
    contribution = {r.layer: r.contribution for r in result.layer_rows}
    alone = [
        (contribution[w["layer"]], w["norm"])
        for w in rows
        if w["setting"] == "layer" and w["layer"] in contribution
    ]
    if len(alone) < 3:
        return []
    report["weight_change_vs_C"] = stats = correlations(*zip(*alone, strict=True))
    return [
        f"||delta theta_k|| vs C over {stats['n']} single-layer runs: Pearson {stats['pearson']:.2f}, "
        f"Spearman {stats['spearman']:.2f} (p={stats['spearman_p']:.2g})"
    ]


def _sweep_args(sweep) -> tuple[str, float | None, float | None]:
    """(env= algo= [model=] trainer.iterations=, the single-layer runs' lr, the full run's lr when it differs)
    of the profiled runs, for the printed strategy commands (model= when the runs used a non-default model
    config, so a strategy trains the model that was profiled)."""
    from layerverl.config import CONFIG_DIR

    summary = sweep.runs[0].summary
    trainer = {
        run.setting: run.config.get("trainer", {}) for run in sweep.runs if run.setting in ("layer", "full")
    }
    layer = trainer.get("layer", {})
    args = f"env={summary['env']} algo={summary['algo']}"
    if (
        summary.get("model") not in (None, "tiny")
        and (CONFIG_DIR / "model" / f"{summary['model']}.yaml").exists()
    ):
        args += f" model={summary['model']}"
    if "iterations" in layer:
        args += f" trainer.iterations={layer['iterations']}"
    full_lr = trainer.get("full", {}).get("lr")
    return args, layer.get("lr"), full_lr if full_lr != layer.get("lr") else None


if __name__ == "__main__":
    sys.exit(main())
