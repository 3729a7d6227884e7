"""Environment speed, side by side: steps per second of each env on fixed episodes, and the ratios that matter.

    python benchmarks/bench_envs.py [--episodes 3] [--repeats 3] [--min-seconds 0.5] [--cases alfworld ...]

Each case is a named env plus a list of episodes (reset arguments and the actions to play). A repetition
replays the episodes until its stepping time reaches --min-seconds; step time and reset time are measured
apart, because the real ALFWorld engine spends most of an episode in reset (parsing the game file whenever
the game changes, as TextWorld's own gym env does on every reset). A case may name a baseline case: the
report prints the median-over-median ratio of steps per second and whether it meets the case's goal.
To add an env, append a `Case` to `CASES`.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs  # noqa: E402
from benchmarks.common import package_version  # noqa: E402
from envs.base import TextEnv  # noqa: E402

PROBES = ("look", "inventory", "jump over the fridge")  # every episode also pays for a few no-op commands


@dataclass
class Episode:
    """One episode to replay: keyword arguments for `reset` and the actions to step."""

    reset_kwargs: dict[str, Any]
    actions: list[str]


@dataclass
class Case:
    """A benchmark case: `build(args, workdir)` returns the env and its episodes, or a reason to skip."""

    name: str
    build: Callable[[argparse.Namespace, Path], tuple[TextEnv, list[Episode]] | str]
    baseline: str | None = None
    goal: float | None = None


@dataclass
class Result:
    """Per repetition: steps per second (resets excluded) and mean reset time in ms."""

    steps_per_s: list[float] = field(default_factory=list)
    reset_ms: list[float] = field(default_factory=list)
    steps: int = 0


# -- ALFWorld: our env vs the real engine on the same exported games --------------------------------------
@cache
def alfworld_scenarios(episodes: int) -> list[tuple[int, dict, list[str]]]:
    """(seed, layout, actions) for the first seeds of our env: probes, then the expert's plan to the win."""
    env = envs.make("alfworld")
    scenarios = []
    for seed in range(episodes):
        env.reset(seed=seed)
        layout, actions = env.unwrapped.layout(), list(PROBES)
        for action in PROBES:
            env.step(action)
        terminated = truncated = False
        while not (terminated or truncated):
            actions.append(env.unwrapped.expert_action())
            _, _, terminated, truncated, _ = env.step(actions[-1])
        scenarios.append((seed, layout, actions))
    return scenarios


def build_alfworld(args: argparse.Namespace, workdir: Path) -> tuple[TextEnv, list[Episode]]:
    scenarios = alfworld_scenarios(args.episodes)
    return envs.make("alfworld"), [Episode({"seed": seed}, actions) for seed, _, actions in scenarios]


def build_alfworld_real(args: argparse.Namespace, workdir: Path) -> tuple[TextEnv, list[Episode]] | str:
    try:
        from envs.alfworld.game_files import alfworld_package_dir, write_game

        alfworld_package_dir()
    except ImportError as exc:
        return str(exc)
    episodes = []
    for seed, layout, actions in alfworld_scenarios(args.episodes):
        gamefile = write_game(layout, workdir / f"{layout['task']['type']}-seed{seed}")
        episodes.append(Episode({"options": {"gamefile": str(gamefile)}}, actions))
    env = envs.make("alfworld_real", gamefiles=[e.reset_kwargs["options"]["gamefile"] for e in episodes])
    return env, episodes


CASES = [
    Case("alfworld", build_alfworld, baseline="alfworld_real", goal=50.0),
    Case("alfworld_real", build_alfworld_real),
]


# -- measuring and reporting ------------------------------------------------------------------------------
def measure(env: TextEnv, episodes: list[Episode], repeats: int, min_seconds: float) -> Result:
    """Time `repeats` repetitions after one warm-up pass; a repetition replays all episodes until its steps
    have taken at least `min_seconds` (one pass for slow engines, many for fast ones)."""
    result = Result()
    for repeat in range(repeats + 1):
        step_time = reset_time = 0.0
        steps = resets = 0
        while step_time < (min_seconds if repeat else 0.0) or resets == 0:
            for episode in episodes:
                start = time.perf_counter()
                env.reset(**episode.reset_kwargs)
                reset_time += time.perf_counter() - start
                start = time.perf_counter()
                for action in episode.actions:
                    env.step(action)
                step_time += time.perf_counter() - start
                steps, resets = steps + len(episode.actions), resets + 1
        if repeat:  # the warm-up pass fills caches (and loads each real game once)
            result.steps_per_s.append(steps / step_time)
            result.reset_ms.append(1000 * reset_time / resets)
            result.steps = sum(len(episode.actions) for episode in episodes)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3, help="episodes per case (ALFWorld: seeds 0..n-1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per case, after a warm-up")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="least stepping time per repetition")
    parser.add_argument("--cases", nargs="*", default=None, help="case names to run (default: all)")
    args = parser.parse_args(argv)

    packages = ("gymnasium", "alfworld", "textworld", "textarena")
    print(
        f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print("versions: " + ", ".join(f"{name} {package_version(name)}" for name in packages))
    print(f"episodes per case: {args.episodes}, repetitions: {args.repeats} (+1 warm-up)\n")

    results: dict[str, Result] = {}
    print(
        f"{'case':<16} {'steps/pass':>10} {'steps/s min':>12} {'median':>10} {'max':>10} {'reset ms (median)':>18}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_envs_") as workdir:
        for case in CASES:
            if args.cases and case.name not in args.cases:
                continue
            built = case.build(args, Path(workdir))
            if isinstance(built, str):
                print(f"{case.name:<16} skipped: {built}")
                continue
            env, episodes = built
            result = results[case.name] = measure(env, episodes, args.repeats, args.min_seconds)
            env.close()
            rates = result.steps_per_s
            print(
                f"{case.name:<16} {result.steps:>10} {min(rates):>12.1f} {statistics.median(rates):>10.1f} "
                f"{max(rates):>10.1f} {statistics.median(result.reset_ms):>18.2f}"
            )

    print()
    for case in CASES:
        if case.baseline and case.name in results and case.baseline in results:
            ratio = statistics.median(results[case.name].steps_per_s) / statistics.median(
                results[case.baseline].steps_per_s
            )
            verdict = (
                ""
                if case.goal is None
                else f" (goal >= {case.goal:g}x: {'met' if ratio >= case.goal else 'NOT met'})"
            )
            print(f"{case.name} / {case.baseline}: {ratio:.0f}x steps per second{verdict}")


if __name__ == "__main__":
    main()
