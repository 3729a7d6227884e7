"""Reward throughput: math calls/s and code calls/s with 1 and 2 workers, several repetitions, side by side,
and the milliseconds one code call costs under each sandbox isolation that works here (bwrap, unshare, and
unisolated as the floor), in the same process run.

    python -m benchmarks.bench_rewards [--repeats 3] [--math-samples 200] [--code-samples 20]

Math samples need math-verify (distinct fractions, never string-equal, so the worker pool is used);
code samples are HumanEval canonical solutions run in the sandbox. Prints one line per setting and the
2-worker / 1-worker ratio; on a 2-core machine shared with other work, expect well under 2x.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from envs.code_task import load_humaneval
from envs.rewards.sandbox import SANDBOX_ENV, SANDBOX_KINDS, SandboxUnavailableError, reset_sandbox
from layerverl.rewards import compute_score, compute_score_batch, sandbox_kind


def math_batch(samples: int, offset: int) -> tuple[list[str], list[str]]:
    """Fractions given unreduced in a box against the reduced gold; `offset` keeps repetitions uncached."""
    ks = range(offset + 1, offset + samples + 1)
    return [rf"\boxed{{\frac{{{2 * k}}}{{{2 * k + 2}}}}}" for k in ks], [
        rf"\frac{{{k}}}{{{k + 1}}}" for k in ks
    ]


def code_batch(samples: int) -> tuple[list[str], list[dict]]:
    rows = load_humaneval()[:samples]
    responses = [f"```python\n{r['prompt']}{r['canonical_solution']}```" for r in rows]
    truths = [{"test": r["test"], "entry_point": r["entry_point"]} for r in rows]
    return responses, truths


def measure(kind: str, workers: int, samples: int, repeats: int) -> list[float]:
    """calls/s of `repeats` batches of `samples` with `workers` threads (and worker processes for math)."""
    rates = []
    for repeat in range(repeats):
        if kind == "math":
            responses, truths = math_batch(samples, offset=10_000 * (repeat + 1) + 1_000 * workers)
            extra = {"num_workers": workers}
        else:
            responses, truths = code_batch(samples)
            extra = {"timeout_s": 10.0}
        start = time.perf_counter()
        outs = compute_score_batch([kind] * len(responses), responses, truths, max_workers=workers, **extra)
        elapsed = time.perf_counter() - start
        assert all(o["score"] == 1.0 for o in outs), [o for o in outs if o["score"] != 1.0][:3]
        rates.append(len(responses) / elapsed)
    return rates


def ms_per_code_call(samples: int, repeats: int) -> dict[str, list[float]]:
    """ms per code call (one worker) under each isolation that works here; the setting is restored after."""
    responses, truths = code_batch(samples)
    before = os.environ.get(SANDBOX_ENV)
    per_kind = {}
    try:
        for kind in SANDBOX_KINDS:
            os.environ[SANDBOX_ENV] = kind
            reset_sandbox()
            try:
                sandbox_kind()
            except SandboxUnavailableError:
                continue
            per_kind[kind] = []
            for _ in range(repeats):
                start = time.perf_counter()
                for response, truth in zip(responses, truths, strict=True):
                    assert compute_score("code", response, truth, timeout_s=10.0)["score"] == 1.0
                per_kind[kind].append((time.perf_counter() - start) / len(responses) * 1000)
    finally:
        if before is None:
            os.environ.pop(SANDBOX_ENV, None)
        else:
            os.environ[SANDBOX_ENV] = before
        reset_sandbox()
    return per_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--math-samples", type=int, default=200)
    parser.add_argument("--code-samples", type=int, default=20)
    args = parser.parse_args()
    print(f"sandbox: {sandbox_kind()}")
    for workers in (1, 2):  # start each math pool before timing
        compute_score("math", r"\boxed{1}", "2", num_workers=workers)
    for kind, samples in (("math", args.math_samples), ("code", args.code_samples)):
        medians = {}
        for workers in (1, 2):
            rates = measure(kind, workers, samples, args.repeats)
            medians[workers] = statistics.median(rates)
            print(
                f"{kind:4s} workers={workers}: {' '.join(f'{r:7.1f}' for r in rates)} calls/s "
                f"(median {medians[workers]:.1f})"
            )
        print(f"{kind:4s} speed-up 2 vs 1 workers: {medians[2] / medians[1]:.2f}x")
    per_kind = ms_per_code_call(args.code_samples, args.repeats)
    floor = statistics.median(per_kind["unisolated"]) if "unisolated" in per_kind else None
    for kind, times in per_kind.items():
        ratio = f"  ({statistics.median(times) / floor:.2f}x unisolated)" if floor else ""
        print(
            f"code ms/call isolation={kind:10s}: {' '.join(f'{t:6.1f}' for t in times)} "
            f"(median {statistics.median(times):.1f}){ratio}"
        )


if __name__ == "__main__":
    main()
