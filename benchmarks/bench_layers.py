"""Cost of training fewer layers: update time, peak memory, trainable state and weight-sync bytes per layer choice.

    python -m benchmarks.bench_layers [--models tiny qwen0.5b-shape] [--repeats 3] [--quick] [--json out.json]

One synthetic set of step samples per model (prompts ~100 tokens, responses ~10, fixed advantages) is
built once; every case runs `layerverl.update.Updater.update` on exactly those samples with the local
trainer's defaults (1 PPO epoch, 2 mini-batches, AdamW over the trained parameters only). Cases differ
in the layer choice (first | mid | last | all; `all` also trains embeddings and head, as `layer=all`
does), where the frozen prefix's output comes from (only meaningful when the lowest trained layer is
k > 0: `run` = a plain freeze, every pass runs layers 0..k-1; `once` = computed once per sample in the
update; `rollout` = recorded by the rollout, the trainer's default) and the source of PPO's old
log-probs (the rollout's own | recomputed by a forward pass). What a rollout hands over (its log-probs,
its recorded layer inputs) is prepared outside the timed update. Repetitions run the
cases round-robin, so each repetition gives a paired ratio against `all` on the same machine load.

Peak memory is measured in an untimed warm-up pass: the RSS high-water mark of the update (Linux VmHWM,
reset through /proc/self/clear_refs, after `malloc_trim(0)` has returned freed heap pages to the OS)
minus the RSS before it; it includes gradients, Adam state and activations. torch keeps no CPU allocator
statistics, and tracemalloc does not see its allocations.
Trainable state is params + grads + Adam moments of what trains (4 x fp32 bytes per trained parameter
as measured from the optimizer); weight-sync bytes are the bytes of the trained parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.common import write_json  # noqa: E402
from layerverl.layers import decoder_layers, freeze_except, optimizer_groups, resolve_layers  # noqa: E402
from layerverl.losses import LossConfig  # noqa: E402
from layerverl.update import (  # noqa: E402
    Updater,
    batch_layer_inputs,
    response_logprobs,
    token_batch,
)

GOAL_MID_OVER_ALL_TIME = 0.35  # trainer issue: mid/all update time with prefix reuse (plain freeze: ~0.48)
PREFIX_SOURCES = (
    "run",
    "once",
    "rollout",
)  # plain freeze | computed once in the update | recorded by the rollout
PAD_ID = 0


@dataclass(frozen=True)
class ModelSpec:
    """A model to measure: how to build it, how many samples, and the micro-batch size."""

    name: str
    build: Callable[[], nn.Module]
    samples: int
    micro_batch_size: int


@dataclass(frozen=True)
class Variant:
    """One case: the layer choice, where the frozen prefix's output comes from (`PREFIX_SOURCES`), and
    whether PPO's old log-probs come from the rollout."""

    layer: str
    prefix: str
    rollout_old: bool

    @property
    def name(self) -> str:
        return f"{self.layer:<5} prefix={self.prefix:<7} old={'rollout' if self.rollout_old else 'recompute'}"


@dataclass
class CaseResult:
    """Per repetition: update seconds and peak RSS delta; per case: parameter and byte counts."""

    seconds: list[float] = field(default_factory=list)
    peak_bytes: list[int] = field(default_factory=list)
    trainable_params: int = 0
    state_bytes: int = 0
    sync_bytes: int = 0


def build_tiny() -> nn.Module:
    """The default tiny policy's shape (8 layers x 128, Qwen3) with the shipped tokenizer's vocabulary."""
    from transformers import AutoTokenizer

    from agents.tiny import DEFAULT_CHECKPOINT, build_model

    return build_model(AutoTokenizer.from_pretrained(str(DEFAULT_CHECKPOINT)))


def build_qwen05_shape(vocab_size: int = 16384) -> nn.Module:
    """Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 kv heads, MLP 4864), random init,
    vocabulary cut from 151936 to `vocab_size` so a CPU update fits the benchmark's minutes."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=896,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        intermediate_size=4864,
        tie_word_embeddings=True,
        max_position_embeddings=512,
        attn_implementation="sdpa",
    )
    return Qwen2ForCausalLM(config)


def variants(layers: list[str]) -> list[Variant]:
    """Every meaningful case: prefix sources only where the lowest trained layer is above 0, and the
    rollout's recorded prefix only with its log-probs (a rollout that hands over one hands over both)."""
    out = []
    for layer in layers:
        for rollout_old in (True, False):
            for prefix in PREFIX_SOURCES if layer in ("mid", "last") else ("run",):
                if prefix != "rollout" or rollout_old:
                    out.append(Variant(layer, prefix, rollout_old))
    return out


def synthetic_samples(
    vocab_size: int, count: int, seed: int = 0
) -> tuple[list[list[int]], list[list[int]], np.ndarray]:
    """`count` (prompt ~100 tokens, response ~10 tokens) pairs of random ids and fixed advantages."""
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(5, vocab_size, int(rng.integers(90, 111))).tolist() for _ in range(count)]
    responses = [rng.integers(5, vocab_size, int(rng.integers(8, 13))).tolist() for _ in range(count)]
    return prompts, responses, rng.standard_normal(count)


@torch.no_grad()
def rollout_logprobs(
    model: nn.Module, prompts: list[list[int]], responses: list[list[int]], micro: int
) -> list[list[float]]:
    """What a rollout engine would have returned: each response token's log-prob under the initial model."""
    out = []
    for start in range(0, len(prompts), micro):
        rows = range(start, min(start + micro, len(prompts)))
        batch = token_batch([prompts[i] for i in rows], [responses[i] for i in rows], PAD_ID)
        chosen = response_logprobs(model, batch, 1.0)[0]
        out += [chosen[row, : len(responses[i])].tolist() for row, i in enumerate(rows)]
    return out


@torch.no_grad()
def rollout_hidden(
    model: nn.Module, layer: int, prompts: list[list[int]], responses: list[list[int]], micro: int
) -> list[torch.Tensor]:
    """What a rollout that records `layer`'s inputs would have returned: per sample, the hidden states of
    prompt + response[:-1] (the positions the model ran on while generating)."""
    out = []
    for start in range(0, len(prompts), micro):
        rows = range(start, min(start + micro, len(prompts)))
        batch = token_batch([prompts[i] for i in rows], [responses[i] for i in rows], PAD_ID)
        hidden = batch_layer_inputs(model, layer, batch)
        out += [hidden[batch.sample_columns(sample)].clone() for sample in range(len(rows))]
    return out


def trim_malloc() -> None:
    """Give glibc's freed heap pages back to the OS, so the next allocations show up in RSS."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_bytes(field_name: str) -> int:
    """A Vm* field of /proc/self/status in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def run_case(
    model: nn.Module,
    variant: Variant,
    samples: tuple,
    old: list[list[float]],
    micro: int,
    epochs: int,
    mini_batches: int,
    measure_memory: bool,
) -> tuple[float, int, dict[str, int]]:
    """One update on the samples: (seconds, peak RSS delta in bytes or 0, byte counts of what trains)."""
    prompts, responses, advantages = samples
    num_layers = len(decoder_layers(model))
    layers = resolve_layers(variant.layer, num_layers)
    every_layer = len(layers) == num_layers  # layer=all also trains embeddings and head (trainer default)
    report = freeze_except(model, layers, train_embeddings=every_layer, train_lm_head=every_layer)
    optimizer = torch.optim.AdamW(optimizer_groups(model, 1e-5), weight_decay=0.0)
    start_layer = min(layers) if variant.prefix != "run" and not every_layer and min(layers) > 0 else None
    updater = Updater(model, optimizer, LossConfig(), PAD_ID, 1.0, micro, 1.0, start_layer)
    hidden = (
        rollout_hidden(model, start_layer, prompts, responses, micro) if variant.prefix == "rollout" else None
    )
    if measure_memory:  # trimming makes the update fault in fresh pages: not done in timed passes
        trim_malloc()
        reset_peak_rss()
    before = rss_bytes("VmRSS")
    tick = time.perf_counter()
    updater.update(
        prompts,
        responses,
        old if variant.rollout_old else None,
        advantages,
        epochs,
        mini_batches,
        np.random.default_rng(0),
        hidden,
    )
    seconds = time.perf_counter() - tick
    peak = rss_bytes("VmHWM") - before if measure_memory else 0
    params = [p for g in optimizer.param_groups for p in g["params"]]
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    grad_bytes = sum(p.grad.numel() * p.grad.element_size() for p in params if p.grad is not None)
    adam_bytes = sum(
        t.numel() * t.element_size()
        for s in optimizer.state.values()
        for t in s.values()
        if torch.is_tensor(t) and t.dim() > 0
    )
    counts = {
        "trainable_params": report["trainable_params"],
        "state_bytes": param_bytes + grad_bytes + adam_bytes,
        "sync_bytes": param_bytes,
    }
    optimizer.zero_grad(set_to_none=True)
    del optimizer, updater
    return seconds, peak, counts


def measure_model(
    spec: ModelSpec, cases: list[Variant], repeats: int, epochs: int, mini_batches: int
) -> dict:
    """Build the model and its samples once, then run every case `repeats` times, round-robin."""
    tick = time.perf_counter()
    model = spec.build()
    vocab = model.config.vocab_size
    samples = synthetic_samples(vocab, spec.samples)
    old = rollout_logprobs(model, samples[0], samples[1], spec.micro_batch_size)
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    tokens = sum(len(p) + len(r) for p, r in zip(samples[0], samples[1], strict=True))
    print(
        f"\n## {spec.name}: {len(decoder_layers(model))} layers, {total / 1e6:.1f}M params, vocab {vocab}; "
        f"{spec.samples} samples ({tokens} tokens), micro-batch {spec.micro_batch_size}, "
        f"{epochs} epoch(s) x {mini_batches} mini-batches; setup {time.perf_counter() - tick:.1f} s",
        flush=True,
    )
    results = {v: CaseResult() for v in cases}
    for repeat in range(repeats + 1):  # pass 0: warm-up and memory, untimed
        for variant in cases:
            seconds, peak, counts = run_case(
                model,
                variant,
                samples,
                old,
                spec.micro_batch_size,
                epochs,
                mini_batches,
                measure_memory=repeat == 0,
            )
            result = results[variant]
            if repeat == 0:
                result.peak_bytes.append(peak)
                result.trainable_params, result.state_bytes, result.sync_bytes = (
                    counts["trainable_params"],
                    counts["state_bytes"],
                    counts["sync_bytes"],
                )
            else:
                result.seconds.append(seconds)
            memory = f", peak RSS +{peak / 2**20:.0f} MB" if repeat == 0 else ""
            print(
                f"  {'warm-up' if repeat == 0 else f'rep {repeat}/{repeats}'} {variant.name}: {seconds:.2f} s{memory}",
                flush=True,
            )
    report = report_model(spec, results, len(decoder_layers(model)))
    report.update(total_params=total, samples=spec.samples, tokens=tokens, vocab=vocab)
    return report


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return "/".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def report_model(spec: ModelSpec, results: dict[Variant, CaseResult], num_layers: int) -> dict:
    """Print the table and the ratios against `all`; return them for the results page."""
    print(
        f"\n{'case':<34}{'params':>11}{'update s min/med/max':>24}{'peak RSS +MB':>14}"
        f"{'state MB':>10}{'sync MB':>9}{'time/all min/med/max':>24}"
    )
    rows = []
    for variant, result in results.items():
        base = results.get(Variant("all", "run", variant.rollout_old))
        paired = [s / b for s, b in zip(result.seconds, base.seconds, strict=True)] if base else []
        row = {
            "case": variant.name,
            "layer": variant.layer,
            "prefix": variant.prefix,
            "rollout_old": variant.rollout_old,
            "trainable_params": result.trainable_params,
            "seconds": result.seconds,
            "peak_mb": [b / 2**20 for b in result.peak_bytes],
            "state_mb": result.state_bytes / 2**20,
            "sync_mb": result.sync_bytes / 2**20,
            "time_over_all": paired,
            "state_over_all": result.state_bytes / base.state_bytes if base else None,
        }
        rows.append(row)
        print(
            f"{variant.name:<34}{result.trainable_params:>11,}{spread(result.seconds):>24}"
            f"{statistics.median(row['peak_mb']):>14.1f}{row['state_mb']:>10.2f}{row['sync_mb']:>9.2f}"
            f"{spread(paired) if paired else '-':>24}"
        )
    checks = []

    def ratio_line(label: str, num: Variant, den: Variant, goal: float | None = None) -> None:
        if num not in results or den not in results:
            return
        paired = [a / b for a, b in zip(results[num].seconds, results[den].seconds, strict=True)]
        median = statistics.median(results[num].seconds) / statistics.median(results[den].seconds)
        verdict = "" if goal is None else f" (goal <= {goal:g}: {'met' if median <= goal else 'NOT met'})"
        print(f"{label}: {median:.2f} (paired min/med/max {spread(paired)}){verdict}")
        checks.append({"label": label, "ratio": median, "paired": paired, "goal": goal})

    print()
    ratio_line(
        "update time mid/all, prefix from the rollout, old=rollout (trainer default)",
        Variant("mid", "rollout", True),
        Variant("all", "run", True),
        GOAL_MID_OVER_ALL_TIME,
    )
    for old in (True, False):
        tag = "old=rollout" if old else "old=recompute"
        ratio_line(
            f"update time mid/all, prefix once, {tag}",
            Variant("mid", "once", old),
            Variant("all", "run", old),
            GOAL_MID_OVER_ALL_TIME,
        )
        ratio_line(
            f"update time mid/all, plain freeze, {tag}",
            Variant("mid", "run", old),
            Variant("all", "run", old),
        )
    for layer in ("mid", "last"):
        ratio_line(
            f"update time {layer} prefix from the rollout/plain freeze, old=rollout",
            Variant(layer, "rollout", True),
            Variant(layer, "run", True),
        )
        ratio_line(
            f"update time {layer} prefix once/plain freeze, old=rollout",
            Variant(layer, "once", True),
            Variant(layer, "run", True),
        )
    for layer, prefix in (("all", "run"), ("mid", "once"), ("mid", "run")):
        ratio_line(
            f"update time {layer} prefix={prefix}: old rollout/recompute",
            Variant(layer, prefix, True),
            Variant(layer, prefix, False),
        )
    mid, full = results.get(Variant("mid", "rollout", True)), results.get(Variant("all", "run", True))
    if mid and full:
        ratio = mid.state_bytes / full.state_bytes
        goal = 1.1 / num_layers
        print(
            f"trainable state bytes mid/all: {ratio:.4f} (goal <= 1.1/L = {goal:.4f}: "
            f"{'met' if ratio <= goal else 'NOT met'}); weight-sync bytes mid/all: "
            f"{mid.sync_bytes / full.sync_bytes:.4f}"
        )
        checks.append({"label": "trainable state bytes mid/all", "ratio": ratio, "goal": goal})
        peak_ratio = statistics.median(mid.peak_bytes) / max(statistics.median(full.peak_bytes), 1)
        print(f"peak RSS delta mid/all (medians): {peak_ratio:.2f}")
        checks.append({"label": "peak RSS delta mid/all", "ratio": peak_ratio, "goal": None})
    return {"model": spec.name, "num_layers": num_layers, "rows": rows, "checks": checks}


MODELS = {
    "tiny": ModelSpec("tiny", build_tiny, samples=512, micro_batch_size=64),
    "qwen0.5b-shape": ModelSpec("qwen0.5b-shape", build_qwen05_shape, samples=4, micro_batch_size=2),
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per case (round-robin)")
    parser.add_argument("--large-repeats", type=int, default=None, help="repetitions for the large model")
    parser.add_argument(
        "--samples", type=int, default=None, help="step samples for the tiny model (default 512)"
    )
    parser.add_argument(
        "--large-samples", type=int, default=None, help="step samples for the large model (default 4)"
    )
    parser.add_argument("--epochs", type=int, default=1, help="PPO epochs (trainer default 1)")
    parser.add_argument(
        "--mini-batches", type=int, default=2, help="optimizer steps per epoch (trainer default 2)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="128 tiny samples, 2 repetitions, only the headline cases on the large model",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else args.repeats
    out = {
        "threads": args.threads,
        "epochs": args.epochs,
        "mini_batches": args.mini_batches,
        "rss_method": "VmHWM (reset via /proc/self/clear_refs after malloc_trim) minus VmRSS before the update, warm-up pass",
        "models": [],
    }
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); peak memory = {out['rss_method']}"
    )
    for name in args.models:
        spec = MODELS[name]
        large = name != "tiny"
        samples = (args.large_samples if large else args.samples) or (
            spec.samples if not args.quick or large else 128
        )
        spec = ModelSpec(spec.name, spec.build, samples, min(spec.micro_batch_size, samples))
        layers = ["all", "first", "mid", "last"]
        cases = variants(layers)
        if large and args.quick:  # the cases that carry the headline ratios
            cases = [
                v
                for v in cases
                if v.layer == "all" or (v.layer == "mid" and (v.prefix != "run" or v.rollout_old))
            ]
        model_repeats = (args.large_repeats or repeats) if large else repeats
        out["models"].append(measure_model(spec, cases, model_repeats, args.epochs, args.mini_batches))
    if len(out["models"]) > 1:
        print()
        for report in out["models"]:
            check = next(
                (
                    c
                    for c in report["checks"]
                    if c["label"].startswith("update time mid/all, prefix from the rollout")
                ),
                None,
            )
            if check:
                print(
                    f"saving grows with size: {report['model']} ({report['total_params'] / 1e6:.1f}M) "
                    f"mid/all update time {check['ratio']:.2f}"
                )
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
