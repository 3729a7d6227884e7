"""Seconds per RL step and peak memory: our local trainer vs TRL's GRPOTrainer, same model, task and shapes, CPU.

    python -m benchmarks.bench_trl [--steps 4] [--layers all mid] [--groups 4] [--group-size 8] [--json out.json]

Both sides get the same randomly initialised tiny policy (the default tiny shape with the shipped tokenizer,
saved once to a temporary directory), the same single-turn math problems in the same order
(`envs.make("math")` train problems rendered with our prompt template, scored by
`layerverl.rewards.compute_score("math", ...)`, through `to_trl` on TRL's side), G prompts x N samples
per step, the same completion budget, temperature 1, one PPO/GRPO pass with one optimizer step per
batch, no KL term, token-mean loss (TRL's `dapo`), AdamW without weight decay. Our side runs the
trainer's own phases (`rollout_iteration`, `compute_advantages`, `update_policy`) with every sample
kept; TRL's step is timed by a callback from `on_step_begin` to `on_step_end` (generation, reward,
loss, backward and optimizer step). Each (trainer, layer) case runs in its own process, one torch
thread, one untimed warm-up step; peak memory is that process's `ru_maxrss` (imports included) and its
growth over the RSS right before the first step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import package_version, write_json  # noqa: E402

GOAL_OURS_OVER_TRL = 0.5  # seconds per step, one trained layer
TRAIN_SEED = 1_000_000  # first train-problem seed, as the trainer's TRAIN_SEED_OFFSET


def rss_mb() -> float:
    """Current RSS of this process in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def save_tiny_model(path: Path) -> None:
    """The default tiny shape, random init (seed 0), with the shipped tokenizer: the model both sides train."""
    from transformers import AutoTokenizer

    from agents.tiny import DEFAULT_CHECKPOINT, build_model

    tokenizer = AutoTokenizer.from_pretrained(str(DEFAULT_CHECKPOINT), padding_side="left")
    build_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)


def our_config(args: argparse.Namespace, layer: str):
    """The Hydra config of our trainer for this case."""
    from hydra import compose, initialize_config_dir

    from layerverl.config import CONFIG_DIR, normalize_argv

    overrides = normalize_argv(
        [
            "env=math",
            "algo=grpo",
            f"layer={layer}",
            f"model.path={args.model_dir}",
            f"trainer.groups={args.groups}",
            f"trainer.group_size={args.group_size}",
            f"model.max_new_tokens={args.max_new_tokens}",
            "trainer.ppo_epochs=1",
            "trainer.mini_batches=1",
            f"trainer.micro_batch_size={args.groups * args.group_size}",
            "trainer.drop_zero_advantage=false",
            f"trainer.lr={args.lr}",
            "backend.threads=1",
            "algo.advantage.invalid_penalty=0.0",
        ]
    )
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def run_ours(args: argparse.Namespace, layer: str) -> dict:
    """Warm-up + timed iterations of our trainer's rollout -> advantages -> update."""
    import numpy as np

    from layerverl.trainer import compute_advantages, rollout_iteration, setup, update_policy

    cfg = our_config(args, layer)
    run = setup(cfg)
    start_rss = rss_mb()
    times, tokens, phases = [], [], {"rollout": [], "advantages": [], "update": []}
    for iteration in range(args.steps + 1):
        tick = time.perf_counter()
        rollout = rollout_iteration(run, cfg, iteration)
        rolled = time.perf_counter()
        adv = compute_advantages(rollout, cfg)
        advantaged = time.perf_counter()
        steps = rollout.steps
        update_policy(run, cfg, rollout, adv.total, iteration)
        if iteration:  # iteration 0 is the warm-up
            end = time.perf_counter()
            times.append(end - tick)
            for name, seconds in (
                ("rollout", rolled - tick),
                ("advantages", advantaged - rolled),
                ("update", end - advantaged),
            ):
                phases[name].append(seconds)
            tokens.append(float(np.mean([len(s.response_ids) for s in steps])))
    prompt_tokens = float(np.mean([len(s.prompt_ids) for s in steps]))
    return {
        "seconds": times,
        "start_rss_mb": start_rss,
        "peak_rss_mb": peak_rss_mb(),
        "trainable_params": run.layer_report["trainable_params"],
        "completion_tokens": tokens,
        "prompt_tokens": prompt_tokens,
        "phases": phases,
    }


def trl_prompts(count: int, seed0: int) -> list[dict]:
    """The math problems our trainer's iterations draw (group g of iteration i: seed seed0 + i*G + g),
    rendered with our compact prompt template, as TRL conversational rows."""
    import envs
    from agents import load_template

    template = load_template("math", "compact", 1)
    env = envs.make("math", split="train")
    rows = []
    for index in range(count):
        observation, info = env.reset(seed=seed0 + index)
        prompt = template.render(info["task"], observation, info["admissible_actions"], [], info)
        rows.append(
            {
                "prompt": [{"role": "user", "content": prompt}],
                "ground_truth": env.unwrapped.tasks[info["task_index"]]["ground_truth"],
            }
        )
    return rows


def run_trl(args: argparse.Namespace, layer: str) -> dict:
    """Warm-up + timed steps of TRL's GRPOTrainer with the matched configuration."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from envs.rewards.trl import to_trl
    from layerverl.layers import decoder_layers, freeze_except, resolve_layers
    from layerverl.rewards import compute_score

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir)
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir, padding_side="left")
    num_layers = len(decoder_layers(model))
    layers = resolve_layers(layer, num_layers)
    every = len(layers) == num_layers  # as our layer=all: embeddings and head train too
    report = freeze_except(model, layers, train_embeddings=every, train_lm_head=every)
    steps = args.steps + 1
    dataset = Dataset.from_list(trl_prompts(steps * args.groups, TRAIN_SEED))
    config = GRPOConfig(
        output_dir=str(Path(args.model_dir) / "trl-out"),
        per_device_train_batch_size=args.groups * args.group_size,
        gradient_accumulation_steps=1,
        num_generations=args.group_size,
        max_completion_length=args.max_new_tokens,
        max_steps=steps,
        learning_rate=args.lr,
        weight_decay=0.0,
        beta=0.0,
        num_iterations=1,
        loss_type="dapo",
        scale_rewards="group",
        temperature=1.0,
        top_p=1.0,
        max_grad_norm=1.0,
        shuffle_dataset=False,
        use_cpu=True,
        bf16=False,
        fp16=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        dataloader_num_workers=0,
        log_completions=False,
    )
    times: list[float] = []
    marks: dict[str, float] = {}

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_, **__):
            marks["start"] = time.perf_counter()

        def on_step_end(self, *_, **__):
            times.append(time.perf_counter() - marks["start"])

    reward = to_trl(compute_score, data_source="math")
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[StepTimer()],
    )
    start_rss = rss_mb()
    trainer.train()
    lengths = [
        h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h
    ]
    optimizer_params = sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"])
    return {
        "seconds": times[1:],
        "start_rss_mb": start_rss,
        "peak_rss_mb": peak_rss_mb(),
        "trainable_params": report["trainable_params"],
        "optimizer_params": optimizer_params,
        "completion_tokens": lengths[1:],
    }


def worker(args: argparse.Namespace) -> None:
    """Run one case in this process and print its JSON on the last line."""
    import torch

    torch.set_num_threads(1)
    result = run_ours(args, args.layer) if args.worker == "ours" else run_trl(args, args.layer)
    print("RESULT " + json.dumps(result), flush=True)


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}/{statistics.median(values):.2f}/{max(values):.2f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per case (after one warm-up step)")
    parser.add_argument("--layers", nargs="*", default=["all", "mid"])
    parser.add_argument("--groups", type=int, default=4, help="prompts per step (G)")
    parser.add_argument(
        "--group-size", type=int, default=8, help="samples per prompt (N, TRL's num_generations)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=16, help="completion budget")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", choices=["ours", "trl"], default=None, help=argparse.SUPPRESS)
    parser.add_argument("--layer", default="all", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    trl_version = package_version("trl")
    matched = (
        f"tiny Qwen3 (8 layers, random init), math train problems, G={args.groups} prompts x "
        f"N={args.group_size} samples = {args.groups * args.group_size} completions/step, "
        f"<= {args.max_new_tokens} new tokens, temperature 1, 1 epoch, 1 optimizer step/step, "
        f"no KL, token-mean loss, AdamW lr {args.lr:g}, 1 torch thread, {args.steps} timed steps + 1 warm-up"
    )
    print(
        f"TRL {trl_version}, transformers {package_version('transformers')}, torch {package_version('torch')}"
    )
    print(f"matched configuration: {matched}")
    out: dict = {"trl_version": trl_version, "matched": matched, "cases": {}, "ratios": []}
    if trl_version == "not installed":
        print("TRL is not installed: pip install -e '.[bench]'")
        return out
    with tempfile.TemporaryDirectory(prefix="bench_trl_") as model_dir:
        save_tiny_model(Path(model_dir))
        for layer in args.layers:
            for side in ("ours", "trl"):
                command = [
                    sys.executable,
                    "-m",
                    "benchmarks.bench_trl",
                    "--worker",
                    side,
                    "--layer",
                    layer,
                    "--model-dir",
                    model_dir,
                    "--steps",
                    str(args.steps),
                    "--groups",
                    str(args.groups),
                    "--group-size",
                    str(args.group_size),
                    "--max-new-tokens",
                    str(args.max_new_tokens),
                    "--lr",
                    str(args.lr),
                ]
                env = dict(os.environ, TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
                done = subprocess.run(
                    command, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1]
                )
                line = next((x for x in reversed(done.stdout.splitlines()) if x.startswith("RESULT ")), None)
                if line is None:
                    print(f"{side} layer={layer}: FAILED (exit {done.returncode})\n{done.stderr[-3000:]}")
                    continue
                result = json.loads(line[len("RESULT ") :])
                out["cases"][f"{side}/{layer}"] = result
                print(
                    f"{side:<5} layer={layer:<4} trainable {result['trainable_params']:>9,}  s/step min/med/max "
                    f"{spread(result['seconds'])}  peak RSS {result['peak_rss_mb']:.0f} MB "
                    f"(+{result['peak_rss_mb'] - result['start_rss_mb']:.0f} MB during training)  "
                    f"completion tokens {statistics.mean(result['completion_tokens']):.1f}",
                    flush=True,
                )
                if "phases" in result:
                    print(
                        "      median phases: "
                        + ", ".join(f"{k} {statistics.median(v):.2f} s" for k, v in result["phases"].items())
                    )
    print()
    for layer in args.layers:
        ours, theirs = out["cases"].get(f"ours/{layer}"), out["cases"].get(f"trl/{layer}")
        if not ours or not theirs:
            continue
        mins = min(ours["seconds"]) / min(theirs["seconds"])
        median = statistics.median(ours["seconds"]) / statistics.median(theirs["seconds"])
        maxs = max(ours["seconds"]) / max(theirs["seconds"])
        memory = ours["peak_rss_mb"] / theirs["peak_rss_mb"]
        growth = (ours["peak_rss_mb"] - ours["start_rss_mb"]) / max(
            theirs["peak_rss_mb"] - theirs["start_rss_mb"], 1
        )
        goal = (
            ""
            if layer == "all"
            else f" (goal <= {GOAL_OURS_OVER_TRL:g}x: {'met' if median <= GOAL_OURS_OVER_TRL else 'NOT met'})"
        )
        print(
            f"layer={layer}: ours/TRL seconds per step {median:.2f}x (min/min {mins:.2f}, max/max {maxs:.2f}){goal}; "
            f"peak RSS {memory:.2f}x, RSS growth {growth:.2f}x"
        )
        out["ratios"].append(
            {
                "layer": layer,
                "median": median,
                "min": mins,
                "max": maxs,
                "peak_rss": memory,
                "rss_growth": growth,
                "goal": None if layer == "all" else GOAL_OURS_OVER_TRL,
            }
        )
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
