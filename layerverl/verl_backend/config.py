"""Our config -> a verl trainer config, built on the `ppo_trainer.yaml` that ships inside verl.

Besides the verl keys, composing writes the two files verl reads: the task datasets (one dummy row per
env group: the agent loop draws its env seed from the row's uid, so the `rollout.n` envs of a group
share their initial state) and the agent-loop registry entry. What trains travels to the Ray workers
as a `TrainPlan` in an environment variable, next to the engine selector that picks our FSDP engine.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from layerverl.config import ConfigError, check_layer_spec

AGENT_NAME = "layerverl_env"
TRAIN_PLAN_ENV = "LAYERVERL_TRAIN_PLAN"
ENGINE_VENDOR = "layerverl"  # EngineRegistry vendor key of our FSDP engine (see fsdp_freeze)
AUDIT_DIR_ENV = "LAYERVERL_AUDIT_DIR"  # where the workers record each update and sync, for the CPU check
CPU_RAY_SLOTS = 16  # Ray CPU slots on a CPU run: verl starts more one-CPU actors than this machine has cores
# backend.device=cpu: what verl's GPU defaults would otherwise need (CUDA kernels, CUDA memory pools)
CPU_OVERRIDES: dict[str, Any] = {
    "trainer.device": "cpu",
    "actor_rollout_ref.model.override_config.attn_implementation": "sdpa",  # default: flash_attention_2
    "actor_rollout_ref.model.use_remove_padding": False,  # flash-attn varlen kernels
    "actor_rollout_ref.actor.use_torch_compile": False,
    "actor_rollout_ref.actor.fsdp_config.use_torch_compile": False,
    "actor_rollout_ref.ref.fsdp_config.use_torch_compile": False,
    "actor_rollout_ref.rollout.enable_sleep_mode": False,  # CUDA memory pools only
    "actor_rollout_ref.rollout.free_cache_engine": False,
    "actor_rollout_ref.rollout.enforce_eager": True,  # no CUDA graphs
    "reward.num_workers": 1,
    "transfer_queue.backend.SimpleStorage.num_data_storage_units": 1,  # 8 deadlocked Ray on a small box
}
ESTIMATORS = {
    "gigpo": "gigpo",
    "grpo": "layerverl_grpo",
    "drgrpo": "layerverl_drgrpo",
}  # ours -> verl registry


@dataclass
class TrainPlan:
    """What trains and how syncs are checked; read by our FSDP engine and worker inside Ray."""

    layers: list[int]
    num_layers: int
    train_embeddings: bool = False
    train_lm_head: bool = False
    lora: bool = False
    check_sync: bool = True
    rollout_dtype: str = "bfloat16"  # the dtype vLLM holds weights in: sync fingerprints are taken in it

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> TrainPlan | None:
        """The plan of this run, or None outside a layerverl run (plain verl keeps its behaviour)."""
        text = os.environ.get(TRAIN_PLAN_ENV)
        return cls(**json.loads(text)) if text else None


def verl_config_dir() -> Path:
    """verl's own trainer config folder in the installed package."""
    import verl

    return Path(verl.__file__).parent / "trainer" / "config"


def load_verl_defaults() -> DictConfig:
    """verl's `ppo_trainer.yaml` composed with Hydra, also from inside a running Hydra app."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.initialize import get_gh_backup, restore_gh_from_backup

    backup = get_gh_backup()  # our own app's Hydra state, restored afterwards
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(str(verl_config_dir()), version_base=None):
            return compose("ppo_trainer")
    finally:
        restore_gh_from_backup(backup)


def model_path(cfg: DictConfig) -> str:
    """The HF folder the actor and vLLM load: the shipped tiny policy when `model.path` is null, an embedded
    model's converted folder for its name (e.g. smollm2-135m-instruct), else the local folder given."""
    from agents.pretrained import model_folder

    return str(model_folder(cfg.model.path or None))


def train_plan(cfg: DictConfig) -> TrainPlan:
    """Resolve `layer.*` against the model's depth, as the local trainer does."""
    from transformers import AutoConfig

    if cfg.layer.boost is not None:
        raise ConfigError("layer.boost: the Boost strategy runs only with backend=local")
    num_layers = AutoConfig.from_pretrained(model_path(cfg)).num_hidden_layers
    layers = check_layer_spec(cfg.layer.spec, num_layers, cfg.layer.profile)
    every_layer = len(layers) == num_layers
    embeddings = every_layer if cfg.layer.train_embeddings is None else bool(cfg.layer.train_embeddings)
    lm_head = every_layer if cfg.layer.train_lm_head is None else bool(cfg.layer.train_lm_head)
    lora = cfg.backend.lora_rank > 0
    if lora and (embeddings or lm_head):
        raise ConfigError(
            "backend.lora_rank: LoRA mode trains adapters on decoder layers only; "
            "set layer.train_embeddings=false layer.train_lm_head=false"
        )
    return TrainPlan(layers, num_layers, embeddings, lm_head, lora, cfg.backend.check_sync)


def lora_target_modules(layers: list[int]) -> str:
    """PEFT full-match regex selecting the attention and MLP projections of `layers` only."""
    return rf".*\.layers\.({'|'.join(map(str, layers))})\.(self_attn|mlp)\.\w+_proj"


def write_task_files(cfg: DictConfig, out_dir: Path) -> dict[str, str]:
    """Write the train/val task rows (parquet) and the agent-loop registry file; return their paths."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    env_kwargs = {
        **OmegaConf.to_container(cfg.env.kwargs, resolve=True),
        # the model's own difficulty for this env, if it has one (`.get` of a missing key gives a plain dict)
        **(OmegaConf.to_container(cfg.model.env_kwargs, resolve=True).get(cfg.env.name) or {}),
    }
    loop = {
        "prompt_variant": cfg.model.prompt_variant,
        "history_length": cfg.model.history_length,
        "max_steps": env_kwargs.get("max_steps", 50),
    }

    def rows(count: int, split: str | None, validate: bool) -> pd.DataFrame:
        kwargs = dict(env_kwargs, **({"split": split} if split else {}))
        return pd.DataFrame(
            [
                {
                    "data_source": f"layerverl/{cfg.env.name}",
                    "prompt": [
                        {"role": "user", "content": ""}
                    ],  # the agent loop builds every prompt from the env
                    "agent_name": AGENT_NAME,
                    "reward_model": {"style": "env", "ground_truth": ""},
                    "extra_info": {
                        "env": cfg.env.name,
                        "env_kwargs": json.dumps(kwargs),
                        "loop": json.dumps(loop),
                        "index": i,
                        "eval_seed": i if validate else None,
                    },
                }
                for i in range(count)
            ]
        )

    train = out_dir / "verl_train.parquet"
    val = out_dir / "verl_val.parquet"
    rows(cfg.trainer.groups * cfg.trainer.iterations, None, validate=False).to_parquet(train)
    rows(cfg.trainer.eval_episodes, cfg.env.eval_splits[0], validate=True).to_parquet(val)
    registry = out_dir / "verl_agent_loops.yaml"
    registry.write_text(f"- name: {AGENT_NAME}\n  _target_: layerverl.verl_backend.agent_loop.EnvAgentLoop\n")
    return {"train": str(train), "val": str(val), "agent_loops": str(registry)}


def compose_verl_config(cfg: DictConfig, out_dir: Path) -> DictConfig:
    """verl's `ppo_trainer.yaml` with our model, env, algorithm, layers, batch sizes, lengths and GPUs."""
    plan = train_plan(cfg)
    files = write_task_files(cfg, out_dir)
    backend, trainer, loss = cfg.backend, cfg.trainer, cfg.algo.loss
    gpus = backend.n_gpus_per_node * backend.nnodes
    mini_batch = backend.ppo_mini_batch_size or max(trainer.groups // trainer.mini_batches, 1)
    path = model_path(cfg)
    sequence_tokens = cfg.model.max_prompt_tokens + cfg.model.max_new_tokens
    values: dict[str, Any] = {
        "data.train_files": files["train"],
        "data.val_files": files["val"],
        "data.train_batch_size": trainer.groups,
        "data.val_batch_size": trainer.eval_batch_size,
        "data.max_prompt_length": cfg.model.max_prompt_tokens,
        "data.max_response_length": cfg.model.max_new_tokens,
        "data.truncation": "left",
        "data.return_raw_chat": True,
        "data.dataloader_num_workers": 0,
        "data.seed": cfg.seed,
        "actor_rollout_ref.model.path": path,
        "actor_rollout_ref.model.external_lib": "layerverl.verl_backend.fsdp_freeze",
        "actor_rollout_ref.model.use_remove_padding": False,
        "actor_rollout_ref.actor.strategy": backend.strategy,
        "actor_rollout_ref.actor.optim.lr": backend.lr or trainer.lr,
        "actor_rollout_ref.actor.optim.weight_decay": 0.0,
        "actor_rollout_ref.actor.ppo_mini_batch_size": mini_batch,
        # micro-batches by token budget: the number of step samples varies per iteration (and verl pads the
        # batch only to a multiple of the mini-batch), so a fixed micro-batch size need not divide it
        **dynamic_micro_batches(backend.micro_batch_size_per_gpu, sequence_tokens),
        "actor_rollout_ref.actor.ppo_epochs": trainer.ppo_epochs,
        "actor_rollout_ref.actor.grad_clip": trainer.grad_clip,
        "actor_rollout_ref.actor.clip_ratio_low": loss.clip_ratio,
        "actor_rollout_ref.actor.clip_ratio_high": loss.clip_ratio_high or loss.clip_ratio,
        "actor_rollout_ref.actor.loss_agg_mode": loss.loss_agg_mode,
        "actor_rollout_ref.actor.loss_scale_factor": loss.loss_scale_factor,
        "actor_rollout_ref.actor.use_kl_loss": bool(loss.kl_coef),
        "actor_rollout_ref.actor.kl_loss_coef": loss.kl_coef,
        "actor_rollout_ref.actor.kl_loss_type": loss.kl_type,
        "actor_rollout_ref.actor.entropy_coeff": loss.entropy_coeff,
        "actor_rollout_ref.ref.strategy": backend.strategy,
        "actor_rollout_ref.rollout.name": "vllm",
        "actor_rollout_ref.rollout.n": trainer.group_size,
        "actor_rollout_ref.rollout.temperature": trainer.temperature,
        "actor_rollout_ref.rollout.top_p": trainer.top_p,
        "actor_rollout_ref.rollout.val_kwargs.temperature": trainer.eval_temperature,
        "actor_rollout_ref.rollout.val_kwargs.do_sample": trainer.eval_temperature > 0,
        "actor_rollout_ref.rollout.tensor_model_parallel_size": backend.tensor_parallel_size,
        "actor_rollout_ref.rollout.gpu_memory_utilization": backend.gpu_memory_utilization,
        # vLLM loads the real checkpoint and never sleeps, so frozen weights stay resident and correct
        # and each sync sends only the trained layers
        "actor_rollout_ref.rollout.load_format": "auto",
        "actor_rollout_ref.rollout.free_cache_engine": False,
        "actor_rollout_ref.rollout.agent.num_workers": backend.agent_workers,
        "actor_rollout_ref.rollout.agent.default_agent_loop": AGENT_NAME,
        "actor_rollout_ref.rollout.agent.agent_loop_config_path": files["agent_loops"],
        "algorithm.adv_estimator": ESTIMATORS[cfg.algo.name],
        "algorithm.gamma": cfg.algo.advantage.get(
            "gamma", 1.0
        ),  # only GiGPO discounts; verl reads it for GAE
        "algorithm.norm_adv_by_std_in_grpo": cfg.algo.advantage.get("norm_by_std", True)
        and cfg.algo.name != "drgrpo",
        "algorithm.use_kl_in_reward": False,
        "trainer.v1.trainer_mode": "layerverl",
        "trainer.nnodes": backend.nnodes,
        "trainer.n_gpus_per_node": backend.n_gpus_per_node,
        "trainer.total_epochs": trainer.iterations,
        "trainer.total_training_steps": trainer.iterations,
        "trainer.project_name": "layerverl",
        "trainer.experiment_name": f"{cfg.env.name}-{cfg.algo.name}-layer{cfg.layer.spec}-seed{cfg.seed}",
        "trainer.logger": list(backend.logger),
        "trainer.default_local_dir": str(out_dir / "checkpoints"),
        "trainer.save_freq": trainer.checkpoint_every,
        "trainer.test_freq": trainer.eval_every or trainer.iterations,
        "trainer.val_before_train": True,
        "trainer.resume_mode": "auto" if trainer.resume == "auto" else "disable",
    }
    if plan.lora:
        values.update(
            {
                "actor_rollout_ref.model.lora_rank": backend.lora_rank,
                "actor_rollout_ref.model.lora_alpha": backend.lora_alpha,
                "actor_rollout_ref.model.target_modules": lora_target_modules(plan.layers),
            }
        )
    cpu = backend.get("device", "cuda") == "cpu"
    if cpu:
        values.update(CPU_OVERRIDES)
    values.update(OmegaConf.to_container(backend.overrides, resolve=True))
    verl_cfg = load_verl_defaults()
    for key, value in values.items():
        if not verl_key_exists(verl_cfg, key):
            raise ConfigError(
                f"{key}: not a key of verl's ppo_trainer.yaml nor a field of its config class "
                f"(verl {_verl_version()})"
            )
        with open_dict(verl_cfg):  # a dataclass field the yaml leaves out, or a free-form dict's entry
            OmegaConf.update(verl_cfg, key, value, merge=False)
    plan.rollout_dtype = verl_dtype_name(verl_cfg.actor_rollout_ref.rollout.dtype)
    with open_dict(verl_cfg):
        # our own keys: GiGPO/GRPO options for the advantage override, and the Ray workers' environment
        verl_cfg.algorithm.layerverl = {
            "name": cfg.algo.name,
            **OmegaConf.to_container(cfg.algo.advantage, resolve=True),
        }
        verl_cfg.ray_kwargs.ray_init.runtime_env.env_vars = {
            TRAIN_PLAN_ENV: plan.to_env(),
            "VERL_ENGINE_VENDOR": ENGINE_VENDOR,
            "VLLM_ALLOW_INSECURE_SERIALIZATION": "1",  # lets the post-sync check run a function in vLLM's workers
            "VERL_FILE_LOGGER_PATH": str(out_dir / "verl_metrics.jsonl"),
            "TOKENIZERS_PARALLELISM": "false",
            AUDIT_DIR_ENV: str(out_dir / "verl_audit"),
            **(cpu_env() if cpu else {}),
        }
        if cpu:  # a local Ray with one fake GPU per rank: verl's placement counts only GPUs/NPUs
            verl_cfg.ray_kwargs.ray_init.update({"num_cpus": CPU_RAY_SLOTS, "num_gpus": gpus})
    if gpus < 1:
        raise ConfigError(
            "backend.n_gpus_per_node: backend=verl needs at least one GPU (or CPU rank) per node"
        )
    return verl_cfg


def dynamic_micro_batches(micro_batch_size: int, sequence_tokens: int) -> dict[str, Any]:
    """verl's dynamic batch size for the actor update and both log-prob passes: each micro-batch holds at
    most `micro_batch_size` full-length sequences' worth of tokens (the memory bound of a fixed micro-batch
    of that size), and any number of samples splits into such micro-batches.

    A fixed `ppo_micro_batch_size_per_gpu` must divide every batch a worker sees (verl asserts it in
    `prepare_micro_batches`); with one sample per env step that count varies per iteration, and verl's
    padding only rounds it up to a multiple of the mini-batch (`ppo_mini_batch_size * rollout.n` samples)."""
    tokens = micro_batch_size * sequence_tokens
    return {
        "actor_rollout_ref.actor.use_dynamic_bsz": True,
        "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": tokens,
        "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz": True,
        "actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu": tokens,
        "actor_rollout_ref.ref.log_prob_use_dynamic_bsz": True,
        "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu": tokens,
    }


def verl_key_exists(verl_cfg: DictConfig, key: str) -> bool:
    """True if `key` (dotted) names a key of verl's composed yaml, a field of the config dataclass its
    node builds (`_target_`; the yaml leaves some out, e.g. `rollout.enable_sleep_mode`), or an entry of
    a free-form dict (`model.override_config.*`). Anything else is a typo, rejected before any work."""
    import dataclasses
    import importlib

    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(verl_cfg, parent) if parent else verl_cfg
    if node is None and parent:
        grand, _, name = parent.rpartition(".")
        holder = OmegaConf.select(verl_cfg, grand) if grand else verl_cfg
        return OmegaConf.is_dict(holder) and name in list(holder) and OmegaConf.is_dict(holder[name])
    if not OmegaConf.is_dict(node):
        return False
    if leaf in list(node):  # iterating a node lists its keys; `in` on the node would not
        return True
    if len(node) == 0:  # `{}` in verl's yaml: a free-form dict such as override_config
        return True
    target = node.get("_target_")
    if not isinstance(target, str):
        return False
    module, _, name = target.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return dataclasses.is_dataclass(cls) and leaf in {f.name for f in dataclasses.fields(cls)}


def cpu_env() -> dict[str, str]:
    """The environment of a CPU run's driver and Ray workers (see `cpu_platform.CPU_ENV`)."""
    from layerverl.verl_backend.cpu_platform import CPU_ENV

    return dict(CPU_ENV)


def verl_dtype_name(dtype: str) -> str:
    """verl's short dtype names (bf16, fp16, fp32) as torch attribute names."""
    return {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(dtype, dtype)


def _verl_version() -> str:
    import verl

    return getattr(verl, "__version__", "?")
