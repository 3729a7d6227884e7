"""Seconds per RL step on the real pretrained model (SmolLM2-135M-Instruct, 30 layers): `layer=mid` vs `layer=all`.

    python -m benchmarks.bench_pretrained [--repeats 2] [--completions 32] [--new-tokens 64] [--threads 2]

Each case is the real trainer, `python run.py env=math algo=grpo model=smollm2-135m-instruct`, for 2
iterations of `--completions` completions (8 groups x 4) of up to `--new-tokens` tokens each, with every
sample in the update (`trainer.drop_zero_advantage=false`, so mid and all update the same number of
samples) and a one-episode evaluation. The figures are the trainer's own `time/rollout_s` and
`time/update_s` from metrics.jsonl. Cases run round-robin (mid, all, mid, all, ...), so each repetition
gives a paired update ratio mid/all under the same machine load. The first iteration of each run pays
one-time costs (allocations), so the step figures are the second iteration's.

It also counts the matmul FLOPs of one update at each setting (torch.profiler's count, in process, on
packed batches of the same shape: 8 prompts of 55 tokens x 4 responses of 10-40 tokens, the prefix from the
rollout): their ratio is what the time ratio would be if every FLOP cost the same, the floor the
update-time goal meets at equal arithmetic (the head, shared by both, is a large part of it on this model).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_json  # noqa: E402

GOAL_UPDATE_MID_OVER_ALL = 0.35
GOAL_STEP_MID_S = 30.0  # one step at layer=mid on 2 cores, of the shape below
GOAL_SHAPE = (32, 64)  # completions, max new tokens
LEARNING_RATES = {
    "mid": "3e-4",
    "all": "3e-5",
}  # the recipe's rates (configs/model/smollm2-135m-instruct.yaml)


def run_case(layer: str, out_dir: Path, args: argparse.Namespace) -> dict:
    """Run the trainer for one case; return its second iteration's metrics."""
    overrides = [
        "env=math",
        "algo=grpo",
        "model=smollm2-135m-instruct",
        f"layer={layer}",
        f"trainer.lr={LEARNING_RATES[layer]}",
        "trainer.iterations=2",
        f"trainer.groups={args.completions // 4}",
        "trainer.group_size=4",
        f"trainer.micro_batch_size={args.completions // 2}",
        f"model.max_new_tokens={args.new_tokens}",
        "trainer.drop_zero_advantage=false",
        "trainer.eval_episodes=1",
        "trainer.eval_batch_size=1",
        "trainer.checkpoint_every=100",
        f"backend.threads={args.threads}",
        f"hydra.run.dir={out_dir}",
    ]
    subprocess.run([sys.executable, str(ROOT / "run.py"), *overrides], check=True, capture_output=True)
    rows = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    return {
        "rollout_s": last["time/rollout_s"],
        "update_s": last["time/update_s"],
        "step_s": last["time/rollout_s"] + last["time/advantage_s"] + last["time/update_s"],
        "update_samples": last["train/update_samples"],
        "trainable_params": last["train/trainable_params"],
    }


def update_flops(layer: str, seed: int = 0) -> dict[str, float]:
    """Matmul GFLOPs of one Updater.update at `layer` (mid | all), and those of the LM head's shapes."""
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    from agents.pretrained import load_model
    from layerverl.layers import freeze_except
    from layerverl.losses import LossConfig
    from layerverl.update import Updater

    model, _ = load_model("smollm2-135m-instruct")
    num_layers, vocab = model.config.num_hidden_layers, model.config.vocab_size
    mid = num_layers // 2
    if layer == "mid":
        freeze_except(model, [mid])
    else:
        freeze_except(model, list(range(num_layers)), True, True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    updater = Updater(
        model,
        torch.optim.AdamW(trainable, lr=1e-6),
        LossConfig(),
        0,
        1.0,
        16,
        1.0,
        mid if layer == "mid" else None,
    )
    rng = np.random.default_rng(seed)
    prompts, responses = [], []
    for _ in range(8):
        prompt = rng.integers(100, vocab, 55).tolist()
        for _ in range(4):
            prompts.append(prompt)
            responses.append(rng.integers(100, vocab, int(rng.integers(10, 41))).tolist())
    advantages = rng.standard_normal(len(prompts)).astype(np.float32)
    old = [[-1.0] * len(r) for r in responses]
    micro = updater.micro_batches(prompts, responses, old, advantages, None)  # the prefix, not counted
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        updater.run_epochs(micro, 1, 2, rng)
    events = prof.key_averages(group_by_input_shape=True)
    head = sum(e.flops for e in events if any(vocab in shape for shape in e.input_shapes if shape))
    return {"gflop": sum(e.flops for e in events) / 1e9, "head_gflop": head / 1e9}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs per case, round-robin")
    parser.add_argument("--completions", type=int, default=32, help="completions per step (groups of 4)")
    parser.add_argument("--new-tokens", type=int, default=64, help="max new tokens per completion")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)

    cases: dict[str, list[dict]] = {"mid": [], "all": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for layer in cases:
                result = run_case(layer, Path(tmp) / f"{layer}-{repeat}", args)
                cases[layer].append(result)
                print(
                    f"  {layer:<3} #{repeat}: step {result['step_s']:.1f} s "
                    f"(rollout {result['rollout_s']:.1f}, update {result['update_s']:.1f})",
                    flush=True,
                )
    ratios = [m["update_s"] / a["update_s"] for m, a in zip(cases["mid"], cases["all"], strict=True)]
    flops = {layer: update_flops(layer) for layer in cases}
    summary = {
        "model": "smollm2-135m-instruct",
        "completions": args.completions,
        "new_tokens": args.new_tokens,
        "threads": args.threads,
        "cases": cases,
        "step_s": {layer: statistics.median(r["step_s"] for r in rs) for layer, rs in cases.items()},
        "rollout_s": {layer: statistics.median(r["rollout_s"] for r in rs) for layer, rs in cases.items()},
        "update_s": {layer: statistics.median(r["update_s"] for r in rs) for layer, rs in cases.items()},
        "update_mid_over_all": statistics.median(ratios),
        "update_mid_over_all_paired": ratios,
        "update_gflop": flops,
        "update_flops_mid_over_all": flops["mid"]["gflop"] / flops["all"]["gflop"],
        "goal_update_mid_over_all": GOAL_UPDATE_MID_OVER_ALL,
        "goal_step_mid_s": GOAL_STEP_MID_S if (args.completions, args.new_tokens) == GOAL_SHAPE else None,
    }
    print(
        f"smollm2-135m-instruct, {args.completions} completions x <= {args.new_tokens} new tokens, "
        f"{args.threads} thread(s): step mid {summary['step_s']['mid']:.1f} s (goal <= {GOAL_STEP_MID_S:.0f}), "
        f"all {summary['step_s']['all']:.1f} s; update mid/all {summary['update_mid_over_all']:.3f} "
        f"(paired {', '.join(f'{r:.3f}' for r in ratios)}; goal <= {GOAL_UPDATE_MID_OVER_ALL}); update matmul "
        f"FLOPs mid/all {summary['update_flops_mid_over_all']:.3f} ({flops['mid']['gflop']:.0f} / "
        f"{flops['all']['gflop']:.0f} GFLOP, the head {flops['mid']['head_gflop']:.0f} / {flops['all']['head_gflop']:.0f})"
    )
    write_json(args.json, summary)
    return summary


if __name__ == "__main__":
    main()
