"""GPU smoke check of layer-only training: one GiGPO iteration with layer=mid and one with layer=all.

Side by side in one process, on our ALFWorld-style env, with a randomly initialised model of
Qwen2.5-1.5B's shape (no download: GPU machines here have no network) and a word-level tokenizer
trained on the env's own text. Each iteration is the local backend's path on the device: HF generate
rollout -> GiGPO advantages -> PPO update of only the chosen layers (`layerverl.update.Updater`, with
its frozen-prefix reuse for layer=mid). It
prints iteration time, peak GPU memory and the bytes a weight sync of the trained parameters moves, as
mid/all ratios. When vLLM is importable it also loads the model into vLLM, syncs only the trained
layer and checks the engine's copy bit for bit (`layerverl.verl_backend.weight_sync`).

A second part runs verl's own FSDP2 wrap (`apply_fsdp2`: one unit per decoder layer) after our
freeze (`freeze_for_fsdp`), on a one-process group, and times one PPO-sized forward/backward/step for
layer=mid and layer=all: peak memory, time, and a check that only the chosen layer's weights moved.

    python benchmarks/gpu_smoke.py                    # one GPU, Qwen2.5-1.5B shape
    python benchmarks/gpu_smoke.py --device cpu --tiny  # CPU dry run of the same code path
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from transformers import Qwen2Config, Qwen2ForCausalLM

from agents import ExpertPolicy, HFBackend, LMPolicy, collect_rollout, load_template
from agents.tiny import train_tokenizer
from envs.batch import EnvBatch
from layerverl.layers import decoder_layers, freeze_except, resolve_layers, trainable_parameters
from layerverl.losses import LossConfig
from layerverl.trainer import compute_advantages
from layerverl.update import Updater
from layerverl.verl_backend.weight_sync import (
    LAYER_INDEX,
    SyncRecord,
    compare_fingerprints,
    filter_trained,
    trained_name_filter,
)

ENV_KWARGS = {"task_types": ["pick_and_place_simple"], "num_receptacles": 5, "num_distractors": 2}
QWEN25_15B = {
    "hidden_size": 1536,
    "num_hidden_layers": 28,
    "num_attention_heads": 12,
    "num_key_value_heads": 2,
    "intermediate_size": 8960,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "rope_theta": 1e6,
    "max_position_embeddings": 4096,
}
TINY = {
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "tie_word_embeddings": True,
    "max_position_embeddings": 1024,
}
CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def build_tokenizer(max_steps: int):
    """A word-level tokenizer over expert episodes' prompts and actions (seconds)."""
    template = load_template("alfworld", "think", 2)
    texts = []
    with EnvBatch("alfworld", 16, max_steps=max_steps, **ENV_KWARGS) as batch:
        rollout = collect_rollout(batch, ExpertPolicy(), template, list(range(16)), 1, max_steps)
    for step in rollout.steps:
        texts += [step.prompt, step.response]
    return train_tokenizer(texts)


def build_model(tokenizer, tiny: bool, device: str) -> Qwen2ForCausalLM:
    """Random weights, fixed seed: every layer spec starts from the same model."""
    torch.manual_seed(0)
    shape = TINY | {"vocab_size": len(tokenizer)} if tiny else QWEN25_15B
    config = Qwen2Config(
        **shape,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.device(device):  # initialise in place: seconds for 1.5B parameters on a GPU
        return Qwen2ForCausalLM(config)


def warm_up(tokenizer, args) -> None:
    """Initialise the device's kernels and libraries on a toy model, so neither timed iteration pays for it."""
    model = build_model(tokenizer, True, args.device)
    ids = torch.randint(0, len(tokenizer), (2, 16), device=args.device)
    model(input_ids=ids, labels=ids).loss.backward()
    model.generate(ids, max_new_tokens=4, do_sample=True, pad_token_id=tokenizer.pad_token_id)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


def one_iteration(spec: str, tokenizer, args) -> dict:
    """Build, freeze, roll out, compute GiGPO advantages, update once; measure time, memory and sync bytes."""
    model = build_model(tokenizer, args.tiny, args.device)
    num_layers = len(decoder_layers(model))
    layers = resolve_layers(spec, num_layers)
    every = len(layers) == num_layers
    report = freeze_except(model, layers, train_embeddings=every, train_lm_head=every)
    algo = OmegaConf.load(CONFIGS / "algo" / "gigpo.yaml")
    loss = OmegaConf.load(
        CONFIGS / "algo" / "loss" / "ppo.yaml"
    )  # what gigpo.yaml's defaults list composes in
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-5, weight_decay=0.0)
    start_layer = (
        min(layers) if min(layers) > 0 and not every else None
    )  # prefix from the rollout, as the trainer
    updater = Updater(
        model,
        optimizer,
        LossConfig(**OmegaConf.to_container(loss)),
        tokenizer.pad_token_id,
        1.0,
        args.micro_batch_size,
        1.0,
        start_layer,
    )
    policy = LMPolicy(
        HFBackend(model, tokenizer),
        tokenizer,
        max_new_tokens=args.max_new_tokens,
        max_prompt_tokens=args.max_prompt_tokens,
        seed=0,
        capture_layer=start_layer,
    )
    template = load_template("alfworld", "think", 2)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    with EnvBatch("alfworld", args.groups * args.group_size, max_steps=args.max_steps, **ENV_KWARGS) as batch:
        rollout = collect_rollout(
            batch, policy, template, list(range(args.groups)), args.group_size, args.max_steps
        )
    rollout_s = time.perf_counter() - started
    adv = compute_advantages(
        rollout, OmegaConf.create({"algo": {"name": "gigpo", "advantage": algo.advantage}})
    )
    steps = rollout.steps
    metrics = updater.update(
        [s.prompt_ids for s in steps],
        [s.response_ids for s in steps],
        [s.response_logprobs for s in steps],
        adv.total,
        1,
        1,
        np.random.default_rng(0),
        [s.hidden for s in steps] if start_layer is not None else None,
    )
    record = SyncRecord()
    keep = trained_name_filter(layers, every, every)
    sent = dict(filter_trained(model.state_dict().items(), keep, layers, torch.bfloat16, record))
    if cuda:
        torch.cuda.synchronize()
    result = {
        "layer": spec,
        "layers": layers if not every else "all",
        "trainable_params": report["trainable_params"],
        "total_params": report["total_params"],
        "step_samples": len(steps),
        "iteration_s": time.perf_counter() - started,
        "rollout_s": rollout_s,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "bytes_synced": record.bytes_sent,
        "tensors_synced": len(record.names),
        "grad_norm": metrics.get("actor/grad_norm"),
    }
    if spec == "mid" and args.vllm_check:
        result["vllm_sync"] = vllm_layer_sync(model, tokenizer, layers, sent, record)
    del model, optimizer, updater, policy, sent
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


def vllm_layer_sync(model, tokenizer, layers: list[int], sent: dict, record: SyncRecord) -> str:
    """Load the pre-update checkpoint into vLLM, sync only `layers` from the trained model, check the copy."""
    import vllm  # noqa: F401  (only reached when importable)

    from agents.backends import VLLMBackend

    os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")  # collective_rpc with our function
    with tempfile.TemporaryDirectory() as folder:
        build_model(tokenizer, False, "cpu").to(torch.bfloat16).save_pretrained(
            folder
        )  # the weights before the update
        tokenizer.save_pretrained(folder)
        engine = VLLMBackend(folder, gpu_memory_utilization=0.3, enforce_eager=True, max_model_len=2048)
    before = engine.llm.collective_rpc(_fingerprints, args=(layers,))[0]
    started = time.perf_counter()
    engine.load_layer_weights(sent)
    sync_s = time.perf_counter() - started
    after = engine.llm.collective_rpc(_fingerprints, args=(layers,))[0]
    compare_fingerprints(record.fingerprints, after)  # raises if the sync did not arrive
    changed = before != after
    del engine
    gc.collect()
    return f"ok: {len(sent)} tensors in {sync_s:.2f} s, engine copy matches the trainer bit for bit (changed: {changed})"


def _fingerprints(worker, layers):
    from layerverl.verl_backend.weight_sync import layer_fingerprints

    return layer_fingerprints(worker.model_runner.model.named_parameters(), layers, torch.bfloat16)


def fsdp_step(spec: str, tokenizer, args) -> dict:
    """verl's FSDP2 wrap after our freeze: one bf16-autocast forward/backward/AdamW step, timed after a warm-up."""
    from torch.distributed.device_mesh import init_device_mesh
    from verl.utils.fsdp_utils import apply_fsdp2

    from layerverl.verl_backend.config import TrainPlan
    from layerverl.verl_backend.fsdp_freeze import freeze_for_fsdp

    cuda = args.device.startswith("cuda")
    model = build_model(tokenizer, args.tiny, args.device)
    num_layers = len(decoder_layers(model))
    layers = resolve_layers(spec, num_layers)
    every = len(layers) == num_layers
    report = freeze_for_fsdp(
        model, TrainPlan(layers=layers, num_layers=num_layers, train_embeddings=every, train_lm_head=every)
    )
    apply_fsdp2(model, {"mesh": init_device_mesh("cuda" if cuda else "cpu", (1,))}, {})
    optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-5)
    probe = {name: p for name, p in model.named_parameters() if name.endswith("mlp.down_proj.weight")}
    before = {name: _full(p) for name, p in probe.items()}
    ids = torch.randint(0, model.config.vocab_size, (args.fsdp_batch, args.fsdp_tokens), device=args.device)
    times = []
    for _ in range(2):  # the first step warms up kernels and allocates optimizer state
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        with torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=cuda):
            model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    moved = sorted(
        int(LAYER_INDEX.search(name).group(1))
        for name, p in probe.items()
        if not torch.equal(before[name], _full(p))
    )
    if moved != layers:
        raise SystemExit(f"gpu_smoke: FSDP2 step with layer={spec} moved layers {moved}, expected {layers}")
    result = {
        "layer": spec,
        "trainable_params": report["trainable_params"],
        "step_s": times[-1],
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "layers_moved": moved,
    }
    del model, optimizer
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return result


def _full(tensor: torch.Tensor) -> torch.Tensor:
    return (tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor).detach().clone()


def fsdp_part(tokenizer, args) -> dict:
    """FSDP2 steps for layer=mid and layer=all in a one-process group (nccl on a GPU, gloo on CPU)."""
    import torch.distributed as dist

    with tempfile.TemporaryDirectory() as folder:  # a file store: no port to collide with
        dist.init_process_group(
            "nccl" if args.device.startswith("cuda") else "gloo",
            rank=0,
            world_size=1,
            init_method=f"file://{folder}/store",
        )
        try:
            results = {spec: fsdp_step(spec, tokenizer, args) for spec in ("mid", "all")}
        finally:
            dist.destroy_process_group()
    for r in results.values():
        memory = f"{r['peak_gpu_bytes'] / 2**30:.2f} GiB" if r["peak_gpu_bytes"] is not None else "n/a (CPU)"
        print(
            f"FSDP2 layer={r['layer']:>3}: {r['trainable_params']:,} params train; step {r['step_s']:.3f} s; "
            f"peak GPU memory {memory}; weights moved only in layers {r['layers_moved'] if r['layer'] == 'mid' else 'all'}"
        )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a 4-layer toy model instead of the 1.5B shape")
    parser.add_argument("--groups", type=int, default=2)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--max-prompt-tokens", type=int, default=512)
    parser.add_argument("--micro-batch-size", type=int, default=8)
    parser.add_argument("--fsdp-batch", type=int, default=8, help="sequences per FSDP2 step")
    parser.add_argument("--fsdp-tokens", type=int, default=512, help="tokens per sequence in the FSDP2 step")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(
            "gpu_smoke: --device cuda but torch sees no CUDA GPU (use --device cpu --tiny for a dry run)"
        )
    try:
        import vllm  # noqa: F401

        args.vllm_check = args.device.startswith("cuda") and not args.tiny
    except ImportError:
        args.vllm_check = False
    print(
        f"vLLM layer-sync check: {'on' if args.vllm_check else 'skipped (vllm not importable, or CPU/tiny run)'}"
    )
    torch.backends.cuda.matmul.allow_tf32 = True
    tokenizer = build_tokenizer(args.max_steps)
    warm_up(tokenizer, args)
    results = {spec: one_iteration(spec, tokenizer, args) for spec in ("mid", "all")}
    for r in results.values():
        memory = f"{r['peak_gpu_bytes'] / 2**30:.2f} GiB" if r["peak_gpu_bytes"] is not None else "n/a (CPU)"
        print(
            f"layer={r['layer']:>3}: {r['trainable_params']:,} of {r['total_params']:,} params train; "
            f"{r['step_samples']} step samples; iteration {r['iteration_s']:.2f} s (rollout {r['rollout_s']:.2f} s); "
            f"peak GPU memory {memory}; sync {r['bytes_synced'] / 2**20:.1f} MiB in {r['tensors_synced']} tensors"
        )
    mid, full = results["mid"], results["all"]
    ratios = {
        "iteration_time": mid["iteration_s"] / full["iteration_s"],
        "bytes_synced": mid["bytes_synced"] / full["bytes_synced"],
        "trainable_params": mid["trainable_params"] / full["trainable_params"],
    }
    if mid["peak_gpu_bytes"]:
        ratios["peak_gpu_memory"] = mid["peak_gpu_bytes"] / full["peak_gpu_bytes"]
    print("ratios mid/all: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    if "vllm_sync" in mid:
        print(f"vLLM layer-only sync: {mid['vllm_sync']}")
    if args.out:  # written now too, so a failure in the FSDP2 part keeps these figures
        args.out.write_text(json.dumps({"results": results, "ratios": ratios}, indent=2, default=str))
    fsdp = fsdp_part(tokenizer, args)
    ratios["fsdp_step_time"] = fsdp["mid"]["step_s"] / fsdp["all"]["step_s"]
    if fsdp["mid"]["peak_gpu_bytes"]:
        ratios["fsdp_peak_gpu_memory"] = fsdp["mid"]["peak_gpu_bytes"] / fsdp["all"]["peak_gpu_bytes"]
    print(
        "FSDP2 ratios mid/all: "
        + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items() if k.startswith("fsdp"))
    )
    if args.out:
        args.out.write_text(
            json.dumps({"results": results, "fsdp": fsdp, "ratios": ratios}, indent=2, default=str)
        )


if __name__ == "__main__":
    main()
