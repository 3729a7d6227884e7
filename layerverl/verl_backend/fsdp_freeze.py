"""Layer-only training inside verl's FSDP engine: freeze before wrapping, optimize only what trains.

verl wraps one FSDP unit per decoder layer plus a root unit (embeddings, final norm, LM head). Freezing
all but the chosen layers *before* wrapping keeps every unit uniformly frozen or trainable, which FSDP1
flat parameters require and which lets FSDP2 skip gradient reduction for frozen units. Importing this
module (verl does, through `actor_rollout_ref.model.external_lib`) registers `LayerFSDPEngine` under
the engine vendor `layerverl` for CUDA and for verl's `cpu` platform (`cpu_platform`), which the workers
select through `VERL_ENGINE_VENDOR`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from verl.workers.config.optimizer import build_optimizer
from verl.workers.engine.base import EngineRegistry
from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead

from layerverl.layers import decoder_layers, freeze_except, trainable_parameters
from layerverl.verl_backend.config import ENGINE_VENDOR, TrainPlan
from layerverl.verl_backend.weight_sync import (
    SyncRecord,
    filter_trained,
    layer_fingerprints,
    trained_name_filter,
)


def check_uniform_units(model: nn.Module) -> None:
    """Raise if a would-be FSDP unit (a decoder layer, or the root's own parameters) mixes frozen and
    trainable parameters."""
    blocks = decoder_layers(model)
    in_blocks = {id(p) for block in blocks for p in block.parameters()}
    units = {f"layer {k}": list(block.parameters()) for k, block in enumerate(blocks)}
    units["root (embeddings, final norm, LM head)"] = [
        p for p in model.parameters() if id(p) not in in_blocks
    ]
    for unit, params in units.items():
        if len({p.requires_grad for p in params}) > 1:
            raise ValueError(
                f"FSDP unit {unit} mixes frozen and trainable parameters; train embeddings and "
                "LM head together (layer.train_embeddings == layer.train_lm_head)"
            )


def freeze_for_fsdp(model: nn.Module, plan: TrainPlan) -> dict[str, Any]:
    """Freeze all but the plan's layers and check unit uniformity; returns `freeze_except`'s report."""
    report = freeze_except(model, plan.layers, plan.train_embeddings, plan.train_lm_head)
    check_uniform_units(model)
    return report


@EngineRegistry.register(
    model_type="language_model", backend=["fsdp", "fsdp2"], device=["cuda", "cpu"], vendor=ENGINE_VENDOR
)
class LayerFSDPEngine(FSDPEngineWithLMHead):
    """verl's FSDP engine training only the planned layers and syncing only them to the rollout."""

    plan: TrainPlan | None = None
    layer_report: dict[str, Any] | None = None
    last_sync: SyncRecord | None = None

    def _build_fsdp_module(self, module):
        self.plan = TrainPlan.from_env()
        if self.plan is not None and not self.plan.lora and not self.engine_config.forward_only:
            self.layer_report = freeze_for_fsdp(module, self.plan)
        return super()._build_fsdp_module(module)

    def _build_optimizer(self, module):
        return build_optimizer(trainable_parameters(module), self.optimizer_config)

    def get_per_tensor_param(self, layered_summon=False, base_sync_done=False, **kwargs):
        params, peft_config = super().get_per_tensor_param(layered_summon, base_sync_done, **kwargs)
        if self.plan is None or self.plan.lora or peft_config is not None:
            return params, peft_config  # LoRA: verl already sends only the adapters
        plan, self.last_sync = self.plan, SyncRecord()
        keep = trained_name_filter(plan.layers, plan.train_embeddings, plan.train_lm_head)
        return filter_trained(
            params, keep, plan.layers, getattr(torch, plan.rollout_dtype), self.last_sync
        ), None

    def audit(self) -> dict[str, Any]:
        """What the trainer holds now: every decoder layer's fingerprint (full tensors, trainer dtype
        fp32) and the parameters the optimizer updates (names, element count)."""
        names = {id(p): n for n, p in self.module.named_parameters()}
        optimized = [names.get(id(p), "?") for group in self.optimizer.param_groups for p in group["params"]]
        full = [
            (n, p.full_tensor() if hasattr(p, "full_tensor") else p)
            for n, p in self.module.named_parameters()
        ]
        return {
            "layer_fingerprints": layer_fingerprints(full, list(range(self.plan.num_layers)), torch.float32),
            "optimizer_params": optimized,
            "optimizer_numel": sum(
                p.numel() for group in self.optimizer.param_groups for p in group["params"]
            ),
        }
