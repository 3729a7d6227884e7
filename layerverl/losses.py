"""The actor loss, built from verl's `core_algos`: PPO-clip policy loss, KL to a reference, entropy bonus.

Shapes: every tensor is (bs, response_length) over response tokens; `mask` marks real tokens.
With gradient accumulation, `batch_tokens` / `batch_sequences` are the counts of the whole mini-batch,
so summing micro-batch losses gives the mini-batch loss (verl's `global_batch_info`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from verl.trainer.ppo import core_algos
from verl.workers.config import ActorConfig

LOSS_AGG_MODES = (
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)
KL_TYPES = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3")


@dataclass
class LossConfig:
    """The knobs of the actor loss (verl names in brackets)."""

    clip_ratio: float = 0.2  # PPO clip epsilon [clip_ratio]
    clip_ratio_high: float | None = None  # upper clip (clip-higher); None = clip_ratio [clip_ratio_high]
    clip_ratio_c: float = 3.0  # dual-clip bound for negative advantages [clip_ratio_c]
    loss_agg_mode: str = "token-mean"  # one of LOSS_AGG_MODES [loss_agg_mode]
    loss_scale_factor: int | None = None  # constant divisor for seq-mean-token-sum-norm (Dr. GRPO)
    kl_coef: float = 0.0  # weight of KL(pi || pi_ref) in the loss [kl_loss_coef]
    kl_type: str = "low_var_kl"  # KL estimator [kl_loss_type]
    entropy_coeff: float = 0.0  # entropy bonus weight [entropy_coeff]

    def __post_init__(self) -> None:
        if self.loss_agg_mode not in LOSS_AGG_MODES:
            raise ValueError(
                f"loss_agg_mode must be one of {', '.join(LOSS_AGG_MODES)}; got {self.loss_agg_mode!r}"
            )
        if self.kl_type not in KL_TYPES:
            raise ValueError(f"kl_type must be one of {', '.join(KL_TYPES)}; got {self.kl_type!r}")


def actor_loss(
    config: LossConfig,
    log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    batch_tokens: int,
    batch_sequences: int,
    ref_log_prob: torch.Tensor | None = None,
    entropy: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO-clip loss (verl's `vanilla`) + kl_coef * KL - entropy_coeff * entropy, aggregated the same way."""
    actor = ActorConfig(
        strategy="fsdp",
        ppo_mini_batch_size=1,
        ppo_micro_batch_size_per_gpu=1,
        rollout_n=1,
        clip_ratio=config.clip_ratio,
        clip_ratio_high=config.clip_ratio_high,
        clip_ratio_c=config.clip_ratio_c,
        loss_agg_mode=config.loss_agg_mode,
        use_dynamic_bsz=False,
    )
    batch_info = {
        "dp_size": 1,
        "batch_num_tokens": batch_tokens,
        "global_batch_size": batch_sequences,
        "loss_scale_factor": config.loss_scale_factor,
    }
    actor.global_batch_info.update(batch_info)
    policy_loss_fn = core_algos.get_policy_loss_fn("vanilla")
    loss, metrics = policy_loss_fn(old_log_prob, log_prob, advantages, mask, config.loss_agg_mode, actor)
    metrics = {k: float(v) for k, v in metrics.items()}
    metrics["actor/pg_loss"] = float(loss.detach())

    def aggregate(matrix: torch.Tensor) -> torch.Tensor:
        return core_algos.agg_loss(matrix, mask, config.loss_agg_mode, **batch_info)

    if ref_log_prob is not None and config.kl_coef:
        kl = aggregate(core_algos.kl_penalty(log_prob, ref_log_prob, config.kl_type))
        loss = loss + config.kl_coef * kl
        metrics["actor/kl_loss"] = float(kl.detach())
    if entropy is not None:
        entropy_value = aggregate(entropy)
        metrics["actor/entropy"] = float(entropy_value.detach())
        if config.entropy_coeff:
            loss = loss - config.entropy_coeff * entropy_value
    return loss, metrics
