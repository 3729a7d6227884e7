"""GiGPO advantage time vs batch size: 1k..64k step samples, to show it scales linearly; the 16k figure vs its goal.

    python -m benchmarks.bench_algos [--repeats 5] [--sizes 1024 4096 16384 65536]

The step samples look like a multi-turn rollout: groups of 8 trajectories of up to 20 steps, anchors
drawn from a few observations per group (so step groups have several members), a few invalid actions.
Each size is timed `--repeats` times after a warm-up; GRPO on the 16k batch is printed next to it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from agents.rollout import anchor_hash  # noqa: E402
from agents.step_batch import StepBatch  # noqa: E402
from benchmarks.common import write_json  # noqa: E402
from layerverl.algos import gigpo_advantages, grpo_advantages  # noqa: E402

GOAL_16K_MS = 20.0
GROUP_SIZE, MAX_STEPS, STATES_PER_GROUP = 8, 20, 30


def step_samples(count: int, seed: int = 0) -> StepBatch:
    """`count` step samples of whole trajectories, as the trainer passes them to an estimator."""
    rng = np.random.default_rng(seed)
    lengths, total = [], 0
    while total < count:
        lengths.append(min(int(rng.integers(1, MAX_STEPS + 1)), count - total))
        total += lengths[-1]
    traj_id = np.repeat(np.arange(len(lengths)), lengths)
    step_idx = np.concatenate([np.arange(n) for n in lengths])
    group_id = traj_id // GROUP_SIZE
    returns = (rng.random(len(lengths)) < 0.3).astype(np.float64) * 10.0
    done = np.concatenate([np.arange(n) == n - 1 for n in lengths])
    states = rng.integers(0, STATES_PER_GROUP, count)
    return StepBatch(
        episode_return=returns[traj_id],
        step_reward=np.where(done, returns[traj_id], 0.0),
        group_id=group_id,
        traj_id=traj_id,
        step_idx=step_idx,
        anchor=[
            anchor_hash(f"group {g} state {s}")
            for g, s in zip(group_id.tolist(), states.tolist(), strict=True)
        ],
        valid=rng.random(count) > 0.05,
    )


def time_ms(fn, samples: StepBatch, repeats: int) -> list[float]:
    """Milliseconds per call, `repeats` calls after one warm-up."""
    fn(samples)
    out = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn(samples)
        out.append(1000 * (time.perf_counter() - tick))
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1024, 2048, 4096, 8192, 16384, 32768, 65536])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    print(
        f"{'step samples':>12} {'GiGPO ms min/med/max':>24} {'us/sample (med)':>16} {'vs 1st size, per sample':>24}"
    )
    for size in args.sizes:
        samples = step_samples(size)
        times = time_ms(gigpo_advantages, samples, args.repeats)
        median = statistics.median(times)
        per_sample = 1000 * median / size
        base = rows[0]["per_sample_us"] if rows else per_sample
        rows.append({"size": size, "ms": times, "per_sample_us": per_sample})
        print(
            f"{size:>12} {min(times):>8.2f}/{median:.2f}/{max(times):.2f}".ljust(38)
            + f"{per_sample:>16.3f} {per_sample / base:>23.2f}x",
            flush=True,
        )
    slope = None
    if len(rows) > 1:  # log-log slope of median time vs size: 1.0 is linear
        x = np.log([r["size"] for r in rows])
        y = np.log([statistics.median(r["ms"]) for r in rows])
        slope = float(np.polyfit(x, y, 1)[0])
        print(f"\nlog-log slope of time vs batch size: {slope:.2f} (1.00 = linear)")
    out = {"rows": rows, "slope": slope, "goal_16k_ms": GOAL_16K_MS}
    if 16384 in args.sizes:
        samples = step_samples(16384)
        gigpo = statistics.median(next(r["ms"] for r in rows if r["size"] == 16384))
        grpo = statistics.median(time_ms(grpo_advantages, samples, args.repeats))
        verdict = "met" if gigpo <= GOAL_16K_MS else "NOT met"
        print(
            f"GiGPO at 16k step samples: {gigpo:.2f} ms (goal <= {GOAL_16K_MS:g} ms: {verdict}); "
            f"GRPO {grpo:.2f} ms; GiGPO/GRPO {gigpo / grpo:.1f}x"
        )
        out.update(gigpo_16k_ms=gigpo, grpo_16k_ms=grpo)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
