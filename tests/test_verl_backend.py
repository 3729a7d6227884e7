"""backend=verl on CPU: config composition, the advantage override, freezing under FSDP2, the layer-only
sync filter and its check, the episode driver, and the missing-GPU/vLLM error. The Ray/vLLM run itself
needs GPUs (scripts/gpu_smoke.sh covers the GPU side)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from transformers import Qwen3Config, Qwen3ForCausalLM

import envs
from agents import StepBatch
from agents.prompts import load_template
from layerverl.algos import gigpo_advantages, grpo_advantages
from layerverl.config import CONFIG_DIR, ConfigError
from layerverl.verl_backend import requirements
from layerverl.verl_backend.config import TRAIN_PLAN_ENV, TrainPlan, compose_verl_config, lora_target_modules
from layerverl.verl_backend.episode import env_seed, episode_outputs, run_episode
from layerverl.verl_backend.weight_sync import (
    SyncRecord,
    WeightSyncError,
    compare_fingerprints,
    filter_trained,
    layer_fingerprints,
    read_rollout_fingerprints,
    trained_name_filter,
    write_rollout_fingerprints,
)

torch.set_num_threads(1)
TINY_ENV = ["env.kwargs.max_steps=3"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """An 8-layer model's config.json: all that composing reads (the weights load on the GPU machine)."""
    path = tmp_path_factory.mktemp("tiny-8-layers")
    Qwen3Config(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=8,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        intermediate_size=64,
    ).save_pretrained(path)
    return path


def tiny_model(num_layers: int = 4) -> Qwen3ForCausalLM:
    torch.manual_seed(0)
    config = Qwen3Config(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        intermediate_size=64,
        tie_word_embeddings=False,
    )
    return Qwen3ForCausalLM(config)


# ---- config composition -------------------------------------------------------------------------


def test_compose_verl_config_maps_our_config_onto_verls(tmp_path, checkpoint, verl_config):
    cfg = verl_config("layer=mid", f"model.path={checkpoint}")
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):  # also works inside a running Hydra app
        verl_cfg = compose_verl_config(cfg, tmp_path)
        assert GlobalHydra.instance().is_initialized()
    rollout, actor = verl_cfg.actor_rollout_ref.rollout, verl_cfg.actor_rollout_ref.actor
    assert verl_cfg.trainer.v1.trainer_mode == "layerverl"
    assert verl_cfg.algorithm.adv_estimator == "gigpo" and verl_cfg.algorithm.layerverl.name == "gigpo"
    assert verl_cfg.algorithm.layerverl.gamma == 0.95
    assert verl_cfg.data.train_batch_size == 2 and rollout.n == 4
    assert verl_cfg.data.max_response_length == cfg.model.max_new_tokens
    assert actor.strategy == "fsdp2" and actor.optim.lr == cfg.trainer.lr
    assert rollout.name == "vllm" and rollout.load_format == "auto" and rollout.free_cache_engine is False
    assert rollout.agent.default_agent_loop == "layerverl_env"
    assert verl_cfg.actor_rollout_ref.model.path == str(checkpoint)
    assert verl_cfg.actor_rollout_ref.model.external_lib == "layerverl.verl_backend.fsdp_freeze"
    assert verl_cfg.trainer.n_gpus_per_node == 1 and verl_cfg.trainer.total_training_steps == 2
    env_vars = verl_cfg.ray_kwargs.ray_init.runtime_env.env_vars
    plan = TrainPlan(**json.loads(env_vars[TRAIN_PLAN_ENV]))
    assert (
        plan.layers == [4]
        and plan.num_layers == 8
        and not plan.train_lm_head
        and plan.rollout_dtype == "bfloat16"
    )
    assert env_vars.VERL_ENGINE_VENDOR == "layerverl"
    train = pd.read_parquet(verl_cfg.data.train_files)
    assert len(train) == 4 and set(train.agent_name) == {"layerverl_env"}
    assert len(pd.read_parquet(verl_cfg.data.val_files)) == 6
    assert "EnvAgentLoop" in Path(rollout.agent.agent_loop_config_path).read_text()


def test_compose_loads_an_embedded_model_by_its_name(tmp_path, verl_config):
    """`model=smollm2-135m-instruct` names an embedded model: verl was handed the bare name, which it would
    look up on the (unreachable) hub; it gets the converted folder, as backend=local does."""
    from agents.pretrained import embedded_model_dir

    verl_cfg = compose_verl_config(
        verl_config("model=smollm2-135m-instruct", "env=math", "algo=grpo"), tmp_path
    )
    assert verl_cfg.actor_rollout_ref.model.path == str(embedded_model_dir("smollm2-135m-instruct"))
    plan = TrainPlan(**json.loads(verl_cfg.ray_kwargs.ray_init.runtime_env.env_vars[TRAIN_PLAN_ENV]))
    assert plan.layers == [15] and plan.num_layers == 30


def test_compose_for_an_env_the_model_has_no_difficulty_for(tmp_path, checkpoint, verl_config):
    """`env=math model=tiny` (the smoke's math case) stopped in verl's first step: the tiny model's env_kwargs
    name only ALFWorld, and the missing entry came back as a plain dict that OmegaConf would not convert."""
    verl_cfg = compose_verl_config(
        verl_config("env=math", "algo=grpo", "model=tiny", f"model.path={checkpoint}"), tmp_path
    )
    assert len(pd.read_parquet(verl_cfg.data.train_files)) == 4


def test_compose_drgrpo_lora_and_errors(tmp_path, checkpoint, verl_config):
    model_path = f"model.path={checkpoint}"
    verl_cfg = compose_verl_config(
        verl_config("algo=drgrpo", "layer=custom", "layer.spec=2", "backend.lora_rank=8", model_path),
        tmp_path,
    )
    actor, model = verl_cfg.actor_rollout_ref.actor, verl_cfg.actor_rollout_ref.model
    assert (
        verl_cfg.algorithm.adv_estimator == "layerverl_drgrpo"
        and not verl_cfg.algorithm.norm_adv_by_std_in_grpo
    )
    assert actor.loss_agg_mode == "seq-mean-token-sum-norm" and not actor.use_kl_loss
    assert model.lora_rank == 8
    names = [
        f"base_model.model.model.layers.{k}.{m}"
        for k in (2, 12, 3)
        for m in ("self_attn.q_proj", "mlp.down_proj")
    ]
    assert [n for n in names if re.fullmatch(model.target_modules, n)] == names[:2]
    assert "(1|5)" in lora_target_modules([1, 5])
    with pytest.raises(ConfigError, match="actor_rollout_ref.actor.no_such_key"):
        compose_verl_config(
            verl_config("+backend.overrides={actor_rollout_ref.actor.no_such_key: 1}", model_path), tmp_path
        )
    with pytest.raises(ConfigError, match="layer.spec"):
        compose_verl_config(verl_config("layer=custom", "layer.spec=99", model_path), tmp_path)


# ---- the advantage override ---------------------------------------------------------------------


def synthetic_batch():
    """2 env groups x 2 sessions with 3/2/3/1 steps; anchors recur inside groups; episode return at the last token."""
    from verl.protocol import DataProto

    rng = np.random.default_rng(0)
    lengths, returns = [3, 2, 3, 1], [10.0, 0.0, 10.0, 10.0]
    keys, extra, rows = [], [], []
    for traj, (length, ret) in enumerate(zip(lengths, returns, strict=True)):
        uid, session = f"uid-{traj // 2}", traj % 2
        for t in range(length):
            keys.append(f"{uid}_{session}_{t}")
            extra.append(
                {
                    "anchor": f"obs{t % 2}",
                    "step_idx": t,
                    "step_reward": ret if t == length - 1 else 0.0,
                    "valid": bool(rng.random() > 0.3),
                }
            )
            rows.append((traj, ret))
    width = 5
    mask = torch.zeros(len(keys), width)
    scores = torch.zeros(len(keys), width)
    for i, (_, ret) in enumerate(rows):
        n = int(rng.integers(1, width + 1))
        mask[i, :n] = 1
        scores[i, n - 1] = ret
    extra_fields = np.empty(len(keys), dtype=object)
    extra_fields[:] = extra
    data = DataProto.from_dict(
        tensors={"token_level_rewards": scores, "response_mask": mask},
        non_tensors={
            "uid": np.array([k.rsplit("_", 2)[0] for k in keys], dtype=object),
            "extra_fields": extra_fields,
        },
    )
    steps = StepBatch(
        episode_return=[ret for _, ret in rows],
        group_id=[t // 2 for t, _ in rows],
        traj_id=[t for t, _ in rows],
        step_idx=[e["step_idx"] for e in extra],
        step_reward=[e["step_reward"] for e in extra],
        anchor=[e["anchor"] for e in extra],
        valid=[e["valid"] for e in extra],
    )
    return data, keys, steps, mask


@pytest.mark.parametrize("name", ["gigpo", "grpo"])
def test_advantage_override_equals_our_estimators(name):
    from layerverl.verl_backend.advantages import apply_step_advantages

    data, keys, steps, mask = synthetic_batch()
    options = {"episode_stats": "steps", "invalid_penalty": 0.1}
    options.update(
        {"gamma": 0.95, "omega": 1.0, "mode": "mean_std_norm"} if name == "gigpo" else {"norm_by_std": True}
    )
    adv = apply_step_advantages(data, keys, {"name": name, **options})
    expected = gigpo_advantages(steps, **options) if name == "gigpo" else grpo_advantages(steps, **options)
    np.testing.assert_allclose(adv.total, expected.total, rtol=1e-12)
    torch.testing.assert_close(
        data.batch["advantages"], torch.tensor(expected.total, dtype=torch.float32)[:, None] * mask
    )
    torch.testing.assert_close(data.batch["returns"], data.batch["advantages"])
    if name == "gigpo":
        assert np.abs(expected.step).sum() > 0  # recurring anchors really gave step groups


# ---- freezing under FSDP2 -----------------------------------------------------------------------


def full(tensor: torch.Tensor) -> torch.Tensor:
    return (tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor).detach().clone()


def test_freeze_then_fsdp2_per_layer_trains_only_the_chosen_layer(tmp_path):
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from verl.utils.fsdp_utils import apply_fsdp2

    from layerverl.layers import decoder_layers, trainable_parameters
    from layerverl.verl_backend.fsdp_freeze import freeze_for_fsdp

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = tiny_model()
        report = freeze_for_fsdp(model, TrainPlan(layers=[2], num_layers=4))
        apply_fsdp2(
            model, {"mesh": init_device_mesh("cpu", (1,))}, {}
        )  # verl's wrap: one unit per decoder layer
        assert all(type(block).__name__.startswith("FSDP") for block in decoder_layers(model))
        optimizer = torch.optim.AdamW(trainable_parameters(model), lr=1e-2)
        assert (
            sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == report["trainable_params"]
        )
        before = {name: full(p) for name, p in model.named_parameters()}
        ids = torch.randint(0, 64, (2, 6))
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        for name, p in model.named_parameters():
            changed = not torch.equal(before[name], full(p))
            assert changed == (".layers.2." in name), name
            assert (p.grad is None) == (".layers.2." not in name), name
    finally:
        dist.destroy_process_group()


def test_mixed_root_unit_is_rejected():
    from layerverl.verl_backend.fsdp_freeze import freeze_for_fsdp

    with pytest.raises(ValueError, match="root"):
        freeze_for_fsdp(tiny_model(), TrainPlan(layers=[1], num_layers=4, train_embeddings=True))


# ---- layer-only weight sync ---------------------------------------------------------------------


def test_name_filter_keeps_only_trained_tensors():
    names = [
        "model.embed_tokens.weight",
        "model.layers.1.mlp.up_proj.weight",
        "model.layers.14.self_attn.q_proj.bias",
        "model.layers.140.mlp.down_proj.weight",
        "model.layers.14.input_layernorm.weight",
        "model.norm.weight",
        "lm_head.weight",
    ]
    assert [n for n in names if trained_name_filter([14])(n)] == [names[2], names[4]]
    with_head = trained_name_filter([14], train_embeddings=True, train_lm_head=True)
    assert [n for n in names if with_head(n)] == [names[0], names[2], names[4], names[5], names[6]]


def vllm_style(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    """A stand-in for vLLM's copy of the weights: q/k/v and gate/up fused per layer, in bf16."""
    fused = {
        "self_attn.qkv_proj.weight": [
            "self_attn.q_proj.weight",
            "self_attn.k_proj.weight",
            "self_attn.v_proj.weight",
        ],
        "mlp.gate_up_proj.weight": ["mlp.gate_proj.weight", "mlp.up_proj.weight"],
    }
    params = dict(model.named_parameters())
    parts = {part for group in fused.values() for part in group}
    items = []
    for k in range(len(model.model.layers)):
        prefix = f"model.layers.{k}."
        items += [
            (prefix + name, torch.cat([params[prefix + p] for p in group])) for name, group in fused.items()
        ]
        items += [(n, p) for n, p in params.items() if n.startswith(prefix) and n[len(prefix) :] not in parts]
    return [(name, tensor.detach().to(torch.bfloat16)) for name, tensor in items]


def test_layer_only_sync_record_and_rollout_check(tmp_path):
    model = tiny_model()
    record = SyncRecord()
    state = model.state_dict()
    sent = dict(filter_trained(state.items(), trained_name_filter([2]), [2], torch.bfloat16, record))
    assert sent and all(".layers.2." in n for n in sent) and record.names == list(sent)
    assert record.bytes_sent == sum(t.numel() * t.element_size() for t in sent.values())
    assert record.bytes_sent < sum(t.numel() * t.element_size() for t in state.values()) / 4
    rollout = vllm_style(model)
    worker = SimpleNamespace(
        model_runner=SimpleNamespace(model=SimpleNamespace(named_parameters=lambda: rollout)), rank=0
    )
    write_rollout_fingerprints(worker, [2], "bfloat16", str(tmp_path / "rollout"))
    copy = read_rollout_fingerprints(str(tmp_path / "rollout"))
    compare_fingerprints(record.fingerprints, copy)  # fused layout, same weights: passes bit for bit
    next(t for n, t in rollout if n == "model.layers.2.mlp.down_proj.weight")[0, 0] += 0.5
    stale = layer_fingerprints(rollout, [2], torch.bfloat16)
    with pytest.raises(WeightSyncError, match=r"layer\(s\) \[2\]"):
        compare_fingerprints(record.fingerprints, stale)
    with pytest.raises(WeightSyncError):
        compare_fingerprints(record.fingerprints, {})


# ---- the agent loop's episode driver ------------------------------------------------------------


def test_episode_outputs_share_group_state_and_carry_gigpo_keys():
    vocab = {}

    def encode(text: str) -> list[int]:
        return [vocab.setdefault(word, len(vocab)) for word in text.split()]

    def decode(ids: list[int]) -> str:
        words = {v: k for k, v in vocab.items()}
        return " ".join(words[i] for i in ids)

    async def generate(prompt_ids: list[int]):
        return encode("<action>look</action>"), [-0.5], {"min_global_steps": 0, "max_global_steps": 0}

    template = load_template("alfworld", "compact", 1)
    episodes = []
    for _session in range(2):  # two sessions of one prompt row: the seed comes from the row's uid
        env = envs.make("alfworld", max_steps=3, task_types=["pick_and_place_simple"])
        episodes.append(
            asyncio.run(run_episode(env, env_seed("row-uid-7"), template, encode, decode, generate, 3))
        )
    assert episodes[0].steps[0].prompt_ids == episodes[1].steps[0].prompt_ids
    assert env_seed("row-uid-7") != env_seed("row-uid-8")
    outputs = episode_outputs(episodes[0])
    assert len(outputs) == 3 and [o["extra_fields"]["step_idx"] for o in outputs] == [0, 1, 2]
    assert all(o["extra_fields"]["valid"] for o in outputs) and "reward_score" not in outputs[0]
    assert outputs[-1]["reward_score"] == episodes[0].episode_return
    assert outputs[-1]["extra_fields"]["reward_extra_info"]["won"] == 0.0
    assert outputs[1]["extra_fields"]["anchor"] != "" and outputs[0]["response_mask"] == [1] * len(
        outputs[0]["response_ids"]
    )


# ---- missing GPUs / vLLM ------------------------------------------------------------------------


def test_missing_gpu_and_vllm_is_one_line(monkeypatch):
    monkeypatch.setattr(requirements, "cuda_device_count", lambda: 0)
    monkeypatch.setattr(requirements.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(requirements.MissingRequirementError) as error:
        requirements.check_requirements(2)
    message = str(error.value)
    assert "\n" not in message and "2 CUDA GPU(s) (found 0)" in message and "vLLM" in message


def test_present_requirements_pass(monkeypatch):
    monkeypatch.setattr(requirements, "cuda_device_count", lambda: 8)
    monkeypatch.setattr(requirements.importlib.util, "find_spec", lambda name: object())
    requirements.check_requirements(8)


def test_cli_stops_before_any_work(monkeypatch, tmp_path, verl_config):
    import layerverl.cli

    monkeypatch.setattr(requirements, "cuda_device_count", lambda: 0)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match=r"^backend=verl needs 1 CUDA GPU\(s\) \(found 0\)"):
        layerverl.cli.run(verl_config())
    assert not any(tmp_path.iterdir())  # nothing written


# ---- metrics and report inputs ------------------------------------------------------------------


def test_rollout_metrics_and_verl_rows_to_history(tmp_path):
    from layerverl.verl_backend.metrics import read_verl_metrics, rollout_metrics

    data, keys, _, _ = synthetic_batch()
    extra = list(data.non_tensor_batch["extra_fields"])
    for i, key in enumerate(keys):  # verl copies the last output's reward info to every step of the session
        extra[i] = dict(extra[i], reward_extra_info={"won": float(key.startswith("uid-0_0"))})
    metrics = rollout_metrics(keys, extra, data.batch["token_level_rewards"])
    assert metrics["train/success_rate"] == 0.25 and metrics["train/episode_return"] == 7.5
    assert metrics["train/episode_length"] == 2.25 and metrics["train/step_samples"] == 9
    rows = [
        {"step": 0, "data": {"val-aux/layerverl/alfworld/won/mean@1": 0.1}},
        {"step": 1, "data": {"train/success_rate": 0.2, "train/episode_return": 2.0, "timing_s/gen": 3.0}},
        {
            "step": 2,
            "data": {
                "train/success_rate": 0.4,
                "train/episode_return": 4.0,
                "val-aux/layerverl/alfworld/won/mean@1": 0.5,
            },
        },
    ]
    history, base, final = read_verl_metrics(rows, episodes=10)
    assert [h["iteration"] for h in history] == [1, 2] and history[0]["time/gen_s"] == 3.0
    assert base["success"] == 0.1 and final["success"] == 0.5 and final["episodes"] == 10
    assert final["ci"][0] < 0.5 < final["ci"][1]
    assert not any(k.startswith("eval/") for row in history for k in row)


def test_verl_run_writes_metrics_jsonl_like_the_local_backend(tmp_path):
    """run_verl wrote summary/report/curves but never metrics.jsonl (the first completed CPU run's check failed
    on it); its rows carry a midway validation as `eval/<split>/success`, the final one stays in the summary."""
    from layerverl.verl_backend.metrics import read_verl_metrics, write_metrics

    won = "val-aux/layerverl/alfworld/won/mean@1"
    rows = [{"step": 0, "data": {won: 0.1}}]
    for step in (1, 2, 3):
        rows.append({"step": step, "data": {"train/success_rate": 0.1 * step, "timing_s/step": 2.0}})
        if step in (2, 3):
            rows[-1]["data"][won] = 0.2 * step
    history, base, final = read_verl_metrics(rows, episodes=10, split="valid_unseen")
    assert [row.get("eval/valid_unseen/success") for row in history] == [None, 0.4, None]
    assert final["success"] == pytest.approx(0.6)
    write_metrics(tmp_path, history)
    written = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert written == history and written[0]["time/step_s"] == 2.0


def _verl_checkpoint(out_dir: Path, step: int) -> None:
    """What verl leaves after saving step `step`: its folder and the tracker file naming it."""
    (out_dir / "checkpoints" / f"global_step_{step}").mkdir(parents=True)
    (out_dir / "checkpoints" / "latest_checkpointed_iteration.txt").write_text(str(step))


def test_verl_resume_keeps_the_interrupted_parts_rows(tmp_path, verl_config):
    """verl's file logger opens verl_metrics.jsonl with "wb": a resumed run used to lose every row the
    interrupted part logged (its base eval and its first steps). The rows move aside first, and a step the
    resumed part redoes keeps its later row."""
    from layerverl.verl_backend.metrics import read_verl_metrics
    from layerverl.verl_backend.resume import logged_rows, prepare_resume

    cfg = verl_config("trainer.iterations=3")
    assert prepare_resume(cfg, tmp_path) is None  # fresh: records the config the checkpoints belong to
    won = "val-aux/layerverl/alfworld/won/mean@1"
    first = [{"step": 0, "data": {won: 0.1}}] + [
        {"step": s, "data": {"train/success_rate": 0.1 * s}} for s in (1, 2, 3)
    ]
    (tmp_path / "verl_metrics.jsonl").write_text("\n".join(json.dumps(r) for r in first) + "\n")
    _verl_checkpoint(tmp_path, 2)  # interrupted during step 3, after step 2's checkpoint
    assert prepare_resume(cfg, tmp_path) == 2
    assert not (tmp_path / "verl_metrics.jsonl").exists()  # verl would truncate it
    second = [{"step": 2, "data": {won: 0.3}}, {"step": 3, "data": {"train/success_rate": 0.9, won: 0.5}}]
    (tmp_path / "verl_metrics.jsonl").write_text("\n".join(json.dumps(r) for r in second))
    history, base, final = read_verl_metrics(logged_rows(tmp_path), episodes=10, split="valid_unseen")
    assert [row["iteration"] for row in history] == [1, 2, 3]
    assert history[2]["train/success_rate"] == 0.9  # the redone step's row
    assert history[1]["eval/valid_unseen/success"] == 0.3
    assert base["success"] == 0.1 and final["success"] == 0.5


def test_verl_resume_refuses_a_checkpoint_of_another_config(tmp_path, verl_config):
    from layerverl.verl_backend.resume import prepare_resume

    prepare_resume(verl_config("trainer.iterations=3"), tmp_path)
    _verl_checkpoint(tmp_path, 1)
    with pytest.raises(ConfigError, match="holds a run with another config"):
        prepare_resume(verl_config("trainer.iterations=3", "layer=last"), tmp_path)
    # a speed-only setting is not another config, and resume=never starts afresh
    assert prepare_resume(verl_config("trainer.iterations=3", "trainer.reuse_prefix=false"), tmp_path) == 1
    assert prepare_resume(verl_config("trainer.iterations=3", "trainer.resume=never"), tmp_path) is None


def test_gpu_smoke_dry_runs_on_cpu(tmp_path):
    """The GPU smoke check's code path (rollout, GiGPO update, sync filter, FSDP2 step) on a toy model."""
    import json

    from benchmarks.gpu_smoke import main

    main(
        [
            "--device",
            "cpu",
            "--tiny",
            "--groups",
            "1",
            "--group-size",
            "2",
            "--max-steps",
            "2",
            "--fsdp-batch",
            "2",
            "--fsdp-tokens",
            "16",
            "--out",
            str(tmp_path / "smoke.json"),
        ]
    )
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert result["fsdp"]["mid"]["layers_moved"] == [2]
    assert result["results"]["mid"]["bytes_synced"] < result["results"]["all"]["bytes_synced"]
    assert 0 < result["ratios"]["trainable_params"] < 1
