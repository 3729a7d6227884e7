"""The results tables: per run and per setting (CSV + markdown), and per task type."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from layerverl.analysis.contribution import ContributionResult


def setting_rows(result: ContributionResult) -> list[dict[str, Any]]:
    """One flat row per setting: S with its CI, C with its CI, and C - 1 (gain over full RL)."""
    return [
        {
            "setting": r.setting,
            "layer": r.layer,
            "relative_depth": r.relative_depth,
            "seeds": len(r.seeds),
            "episodes": r.episodes,
            "S": r.success,
            "S_low": r.success_ci[0],
            "S_high": r.success_ci[1],
            "C": r.contribution,
            "C_low": r.contribution_ci[0],
            "C_high": r.contribution_ci[1],
            "over_full": r.contribution - 1,
        }
        for r in result.rows
    ]


def run_rows(result: ContributionResult) -> list[dict[str, Any]]:
    """One row per (setting, seed): the run's success, next to S_base and S_full."""
    s_base, s_full = result.get("base").success, result.get("full").success
    return [
        {"setting": r.setting, "layer": r.layer, "seed": seed, "S": s, "S_base": s_base, "S_full": s_full}
        for r in result.rows
        for seed, s in zip(r.seeds, r.per_seed, strict=True)
    ]


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Rows of dicts to CSV (header from the first row); floats with 6 significant digits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    return path


def markdown_table(result: ContributionResult) -> str:
    """The per-setting table with CIs, headed by S_base, S_full and the summary lines."""
    summary = result.summary()
    lines = [f"# Layer contribution: {result.sweep_name}, split {result.split}", ""]
    lines += [f"- {line}" for line in summary_lines(summary)]
    lines += [
        "",
        "| setting | depth | seeds | episodes | S [95% CI] | C [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for r in result.rows:
        depth = "" if r.relative_depth is None else f"{r.relative_depth:.2f}"
        c = (
            ""
            if r.setting == "base"
            else f"{r.contribution:.2f} [{r.contribution_ci[0]:.2f}, {r.contribution_ci[1]:.2f}]"
        )
        lines.append(
            f"| {r.label} | {depth} | {len(r.seeds)} | {r.episodes} | "
            f"{r.success:.3f} [{r.success_ci[0]:.3f}, {r.success_ci[1]:.3f}] | {c} |"
        )
    if result.per_task_type:
        lines += [
            "",
            "## Per task type",
            "",
            "| task type | setting | success | C [95% CI] |",
            "|---|---|---|---|",
        ]
        for row in result.per_task_type:
            name = f"L{row['layer']}" if row["setting"] == "layer" else row["setting"]
            lines.append(
                f"| {row['task_type']} | {name} | {row['success']:.3f} | "
                f"{row['C']:.2f} [{row['C_ci'][0]:.2f}, {row['C_ci'][1]:.2f}] |"
            )
    return "\n".join(lines) + "\n"


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """Short human-readable summary of `ContributionResult.summary()`."""
    lines = [
        f"S_base {summary['S_base']:.3f}, S_full {summary['S_full']:.3f} "
        f"[{summary['S_full_ci'][0]:.3f}, {summary['S_full_ci'][1]:.3f}]; "
        f"{len(summary['layers_profiled'])} of {summary['num_layers']} layers profiled"
        + ("; episodes resampled jointly across runs" if summary["paired_episodes"] else "")
    ]
    if "best" in summary:
        best, worst = summary["best"], summary["worst"]
        lines.append(
            f"layers with C >= 1: {len(summary['layers_c_ge_1'])} {summary['layers_c_ge_1']}"
            f" (CI above 1: {summary['layers_ci_above_1']})"
        )
        lines.append(
            f"best L{best['layer']} C={best['C']:.2f} [{best['ci'][0]:.2f}, {best['ci'][1]:.2f}]; "
            f"worst L{worst['layer']} C={worst['C']:.2f} [{worst['ci'][0]:.2f}, {worst['ci'][1]:.2f}]"
        )
    for name, s in summary["strategies"].items():
        lines.append(
            f"{name}: recovers {s['C']:.0%} of the full-RL gain ({s['over_full']:+.0%} over full), "
            f"CI [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}]"
        )
    return lines


def write_tables(result: ContributionResult, out_dir: Path) -> list[Path]:
    """contribution.csv, runs.csv, per_task_type.csv (when there are task types) and contribution.md."""
    paths = [
        write_csv(out_dir / "contribution.csv", setting_rows(result)),
        write_csv(out_dir / "runs.csv", run_rows(result)),
    ]
    if result.per_task_type:
        rows = [
            {**{k: v for k, v in r.items() if k != "C_ci"}, "C_low": r["C_ci"][0], "C_high": r["C_ci"][1]}
            for r in result.per_task_type
        ]
        paths.append(write_csv(out_dir / "per_task_type.csv", rows))
    (out_dir / "contribution.md").write_text(markdown_table(result))
    return [*paths, out_dir / "contribution.md"]
