"""Layer-contribution sweeps: base evaluation, full RL and each layer over seeds, as Hydra multiruns.

    python -m layerverl.sweep env=alfworld algo=gigpo layers=all seeds=3            # plan, skip, launch
    python -m layerverl.sweep env=alfworld algo=gigpo layers=every2 seeds=3 --dry-run
    python -m layerverl.sweep env=alfworld algo=gigpo seeds=3 strategies=3 profile=docs/results/x/profile.json

Sweep keys: `layers` (all | everyN | none | a comma list), `seeds` (a count N = 0..N-1, or a comma list;
one explicit seed as `7,`), `base` / `full` (true | false), `full_lr` (the learning rate of the runs that
train every layer, full RL and Boost; default trainer.lr, the paper's protocol), `parallel` (runs at once,
default 1; each gets cpu_count // parallel torch threads unless backend.threads is given), `strategies`
(K: Only-BK, Boost-BK, Mid-K, Only-WK, Boost-WK from `profile`), `sweep_dir` (default
multirun/<env>-<algo>-<model>), `num_layers` (when the model's config.json cannot be read). Every other
`key=value` goes to `run.py` unchanged (`trainer.iterations=50`, `hydra/launcher=submitit_slurm`, ...).
Each run's directory is `<sweep_dir>/<env>-<algo>-<tag>-seed<seed>` with tag `base`, `layer<spec>` or the
strategy's name.
A run whose summary.json is complete is skipped; one with a checkpoint but no summary resumes
(the trainer continues from `checkpoints/latest.pt`); a finished run with another config stops the launch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerverl.config import CONFIG_DIR, ConfigError, normalize_argv, run_identity

SWEEP_KEYS = (
    "layers",
    "seeds",
    "base",
    "full",
    "full_lr",
    "parallel",
    "strategies",
    "profile",
    "sweep_dir",
    "num_layers",
)
STATUSES = ("done", "resume", "new", "conflict")


@dataclass(frozen=True)
class Job:
    """One run of a sweep: its directory name's tag, seed and the overrides that make it."""

    tag: str
    seed: int
    overrides: tuple[str, ...]
    group: str  # jobs of one group differ only in the swept values and launch as one multirun


@dataclass
class SweepPlan:
    """Every job of a sweep with its status, and the run.py command lines that launch the unfinished ones."""

    sweep_dir: Path
    jobs: list[Job]
    status: dict[Job, str]
    commands: list[list[str]] = field(default_factory=list)
    parallel: int = 1  # commands run at once

    def counts(self) -> dict[str, int]:
        """How many jobs have each status."""
        return {s: sum(1 for v in self.status.values() if v == s) for s in STATUSES}


def summary_complete(summary: Any) -> bool:
    """True when a summary.json dict has base and final results (success, episodes) for the same splits."""
    if not isinstance(summary, dict) or not all(k in summary for k in ("layers", "num_layers", "iterations")):
        return False
    base, final = summary.get("base"), summary.get("final")
    if not isinstance(base, dict) or not isinstance(final, dict) or not final or set(base) != set(final):
        return False
    return all(
        isinstance(r, dict) and "success" in r and "episodes" in r for r in [*base.values(), *final.values()]
    )


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary.json when it exists and is complete, else None (a half-written file counts as none)."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if summary_complete(summary) else None


def run_status(run_dir: Path, expected_config: dict[str, Any] | None = None) -> str:
    """`done` (complete summary), `resume` (a checkpoint, no summary), `new`, or `conflict` (finished or
    checkpointed with a config other than `expected_config`)."""
    run_dir = Path(run_dir)
    has_summary = read_summary(run_dir) is not None
    has_checkpoint = (run_dir / "checkpoints" / "latest.pt").exists()
    if expected_config is not None and (has_summary or has_checkpoint) and (run_dir / "config.yaml").exists():
        from omegaconf import OmegaConf

        recorded = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
        if run_identity(recorded) != run_identity(expected_config):
            return "conflict"
    return "done" if has_summary else "resume" if has_checkpoint else "new"


def parse_seeds(value: str) -> list[int]:
    """`3` -> [0, 1, 2]; `0,5` -> [0, 5]; `7,` -> [7]."""
    text = str(value).strip()
    if "," not in text:
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"seeds={value}: give a count >= 1 or a comma list of seeds (one seed as `7,`)")
        return list(range(int(text)))
    try:
        return sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise ConfigError(f"seeds={value}: not a comma list of integers") from None


def parse_layers(value: str, num_layers: int) -> list[int]:
    """`all` -> 0..L-1; `every2` -> 0, 2, ...; `none` -> []; `0,4,8` -> those (negative counts from the end)."""
    text = str(value).strip().lower()
    if text == "none":
        return []
    if text == "all":
        return list(range(num_layers))
    if text.startswith("every") and text[5:].isdigit() and int(text[5:]) >= 1:
        return list(range(0, num_layers, int(text[5:])))
    try:
        layers = sorted({int(s) % num_layers if int(s) < 0 else int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise ConfigError(f"layers={value}: use all, everyN, none or a comma list of layer indices") from None
    if any(k >= num_layers for k in layers):
        raise ConfigError(f"layers={value}: valid indices are 0..{num_layers - 1}")
    return layers


def strategy_overrides(k: int, profile: str | Path) -> dict[str, list[str]]:
    """The §4 strategies as run.py overrides: Only-Bk, Boost-Bk, Mid-k and the Only-Wk / Boost-Wk controls."""
    profile = Path(profile).resolve()
    return {
        f"only-top{k}": [f"layer=top{k}", f"layer.profile={profile}"],
        f"boost-top{k}": ["layer=all", f"layer.boost=top{k}", f"layer.profile={profile}"],
        f"mid{k}": [f"layer=mid{k}"],
        f"only-bottom{k}": [f"layer=bottom{k}", f"layer.profile={profile}"],
        f"boost-bottom{k}": ["layer=all", f"layer.boost=bottom{k}", f"layer.profile={profile}"],
    }


def model_num_layers(model_path: str | None) -> int:
    """Decoder depth from the model's config.json (`model.path` null = the shipped tiny checkpoint; an
    embedded model's name = its converted folder)."""
    from agents.pretrained import ModelNotFound, model_folder

    try:
        config_file = model_folder(model_path) / "config.json"
    except ModelNotFound as exc:
        raise ConfigError(f"model.path: {exc}") from None
    if not config_file.exists():
        raise ConfigError(f"cannot read {config_file} to count layers; pass num_layers=N")
    return int(json.loads(config_file.read_text())["num_hidden_layers"])


def split_args(argv: list[str]) -> tuple[dict[str, str], list[str], bool]:
    """(sweep keys, run.py overrides, dry_run) from the command line."""
    sweep, passthrough, dry_run = {}, [], False
    for arg in argv:
        key, _, value = arg.partition("=")
        if arg == "--dry-run":
            dry_run = True
        elif key in SWEEP_KEYS:
            sweep[key] = value
        elif key in ("seed", "layer", "layer.spec"):
            raise ConfigError(f"{key}: the sweep sets it; use layers=, seeds= or strategies=")
        else:
            passthrough.append(arg)
    return sweep, passthrough, dry_run


def compose(overrides: list[str]):
    """The run config (without Hydra's own node) for `overrides`, as run.py would compose it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    plain = [o for o in normalize_argv(overrides) if not o.startswith(("hydra.", "hydra/", "-"))]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose("config", overrides=plain)


def plan_sweep(argv: list[str], python: str = sys.executable) -> SweepPlan:
    """Expand the sweep keys into jobs, check each job's directory, and build the multirun commands."""
    sweep, passthrough, _ = split_args(argv)
    cfg = compose(passthrough)
    num_layers = int(sweep["num_layers"]) if "num_layers" in sweep else model_num_layers(cfg.model.path)
    strategies = int(sweep["strategies"]) if sweep.get("strategies") else 0
    if strategies and not sweep.get("profile"):
        raise ConfigError(
            "strategies=K needs profile=path/to/profile.json (written by python -m layerverl.analysis)"
        )
    seeds = parse_seeds(sweep.get("seeds", "1"))
    layers = parse_layers(sweep.get("layers", "none" if strategies else "all"), num_layers)
    on = {
        key: sweep.get(key, "false" if strategies else "true").lower() == "true" for key in ("base", "full")
    }
    sweep_dir = Path(
        sweep.get("sweep_dir", f"multirun/{cfg.env.name}-{cfg.algo.name}-{cfg.model.name}")
    ).resolve()

    full_rate = (f"trainer.lr={sweep['full_lr']}",) if sweep.get("full_lr") else ()
    jobs: list[Job] = []
    for seed in seeds:
        if on["base"]:
            jobs.append(Job("base", seed, ("layer=all", "trainer.iterations=0"), "base"))
        if on["full"] and full_rate:  # its own lr: its own multirun
            jobs.append(Job("layerall", seed, ("layer=all", *full_rate), "layerall"))
        full = ["all"] if on["full"] and not full_rate else []
        jobs += [Job(f"layer{spec}", seed, (f"layer={spec}",), "layer") for spec in full + layers]
        if strategies:  # Boost trains every layer, so it takes the full run's rate like full RL does
            jobs += [
                Job(name, seed, (*overrides, *(full_rate if name.startswith("boost") else ())), name)
                for name, overrides in strategy_overrides(strategies, sweep["profile"]).items()
            ]
    status = {job: run_status(sweep_dir / run_dir_name(cfg, job), job_config(cfg, job)) for job in jobs}
    parallel = int(sweep.get("parallel", 1))
    if parallel < 1:
        raise ConfigError(f"parallel={sweep['parallel']}: give the number of runs at once (>= 1)")
    plan = SweepPlan(sweep_dir, jobs, status, parallel=parallel)
    if (
        parallel > 1
        and "threads" in cfg.backend
        and not any(o.startswith("backend.threads=") for o in passthrough)
    ):
        passthrough = [*passthrough, f"backend.threads={max(1, (os.cpu_count() or 1) // parallel)}"]
    plan.commands = launch_commands(plan, passthrough, cfg.env.name, cfg.algo.name, python)
    return plan


def job_config(cfg: Any, job: Job) -> dict[str, Any]:
    """The resolved config a job's run records in its config.yaml: `cfg` with the job's overrides and seed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    expected = cfg.copy()
    for override in OverridesParser.create().parse_overrides([*job.overrides, f"seed={job.seed}"]):
        key = override.key_or_group  # values as Hydra parses them: `3` -> 3, `3e-4` -> 0.0003
        OmegaConf.update(expected, "layer.spec" if key == "layer" else key, override.value())
    return OmegaConf.to_container(expected, resolve=True)


def run_dir_name(cfg: Any, job: Job) -> str:
    """`<env>-<algo>-<tag>-seed<seed>`, the subdirectory Hydra gives the job."""
    return f"{cfg.env.name}-{cfg.algo.name}-{job.tag}-seed{job.seed}"


def launch_commands(
    plan: SweepPlan, passthrough: list[str], env: str, algo: str, python: str
) -> list[list[str]]:
    """One `run.py -m` command per group of unfinished jobs that share their seeds (a product Hydra can sweep);
    with `parallel` > 1, one per job, so that runs go side by side."""
    pending = [j for j in plan.jobs if plan.status[j] in ("new", "resume")]
    batches = [[j for j in pending if j.group == group] for group in dict.fromkeys(j.group for j in pending)]
    if plan.parallel > 1:
        batches = [[job] for job in pending]
    commands = []
    for members in batches:
        group = members[0].group
        seeds_of: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for job in members:
            seeds_of[job.overrides].append(job.seed)
        by_seeds: dict[tuple[int, ...], list[tuple[str, ...]]] = defaultdict(list)
        for overrides, seeds in seeds_of.items():
            by_seeds[tuple(seeds)].append(overrides)
        for seeds, override_sets in by_seeds.items():
            if group == "layer":  # the layer sweep: one swept `layer=` value per job
                overrides = ["layer=" + ",".join(o[0].split("=", 1)[1] for o in override_sets)]
                tag = "layer${layer.spec}"
            else:
                overrides, tag = list(override_sets[0]), group
            own = {o.partition("=")[0] for o in overrides}
            commands.append(
                [
                    python,
                    str(CONFIG_DIR.parent / "run.py"),
                    "-m",
                    *[o for o in passthrough if o.partition("=")[0] not in own],
                    *overrides,
                    f"seed={','.join(map(str, seeds))}",
                    f"hydra.sweep.dir={plan.sweep_dir}",
                    f"hydra.sweep.subdir={env}-{algo}-{tag}-seed${{seed}}",
                ]
            )
    return commands


def run_side_by_side(commands: list[list[str]], parallel: int, sweep_dir: Path) -> int:
    """Run the commands `parallel` at a time, each logging to `<sweep_dir>/launch-<k>.log`; the number failed."""
    sweep_dir.mkdir(parents=True, exist_ok=True)

    def launch(k: int) -> int:
        log = sweep_dir / f"launch-{k}.log"
        with open(log, "a") as out:
            code = subprocess.run(commands[k], stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        print(
            f"[{k + 1}/{len(commands)}] {'done' if code == 0 else f'failed (exit {code})'}: see {log}",
            flush=True,
        )
        return code

    with ThreadPoolExecutor(parallel) as pool:
        return sum(code != 0 for code in pool.map(launch, range(len(commands))))


def main(argv: list[str] | None = None) -> int:
    """Plan the sweep, print what is done / resumed / new, and launch the rest (unless --dry-run)."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        plan = plan_sweep(argv)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    _, _, dry_run = split_args(argv)
    counts = plan.counts()
    print(
        f"sweep {plan.sweep_dir}: {len(plan.jobs)} runs, " + ", ".join(f"{n} {s}" for s, n in counts.items())
    )
    if counts["conflict"]:
        names = [f"{j.tag}-seed{j.seed}" for j in plan.jobs if plan.status[j] == "conflict"]
        print(
            f"runs with another config in their directory: {', '.join(names)}; use another sweep_dir",
            file=sys.stderr,
        )
        return 2
    for command in plan.commands:
        print(" ".join(command[1:]))
    if dry_run:
        return 0
    if plan.parallel == 1:
        failed = sum(subprocess.run(command, check=False).returncode != 0 for command in plan.commands)
    else:
        failed = run_side_by_side(plan.commands, plan.parallel, plan.sweep_dir)
    if failed:
        print(f"{failed} multirun(s) had a failed run; the same command resumes them", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
