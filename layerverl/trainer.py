"""The local trainer (`backend=local`): one process, HF generate for rollouts, torch for the update.

Reads top to bottom: setup -> for each iteration: rollout -> advantages -> PPO update -> log, with
periodic evaluation and checkpoints. Only the chosen layers train; the optimizer holds only them.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from agents import EvalResult, HFBackend, LMPolicy, collect_rollout, evaluate, load_template, paired_change
from agents.rollout import Rollout
from envs.batch import EnvBatch
from layerverl.algos import Advantages, advantage_metrics, estimate_advantages
from layerverl.checkpoint import load_checkpoint, save_checkpoint
from layerverl.config import ConfigError, check_layer_spec, run_identity
from layerverl.layers import decoder_layers, freeze_except, optimizer_groups
from layerverl.losses import LossConfig
from layerverl.metrics_log import MetricsLogger
from layerverl.report import write_report
from layerverl.update import Updater

TRAIN_SEED_OFFSET = 1_000_000  # training tasks come from seeds far from evaluation seeds


@dataclass
class Run:
    """Everything set up before the first iteration."""

    model: torch.nn.Module
    tokenizer: Any
    policy: LMPolicy
    updater: Updater
    layer_report: dict[str, Any]
    env_kwargs: dict[str, Any]
    template: Any
    envs: EnvBatch  # the training envs, built once: some envs (math, webshop) are costly to construct


def setup(cfg: DictConfig) -> Run:
    """Load the model, choose what trains, build the optimizer, policy and updater; validate on the way."""
    from agents.pretrained import ModelNotFound, load_model

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.backend.threads:
        torch.set_num_threads(cfg.backend.threads)
    try:
        model, tokenizer = load_model(cfg.model.path)
    except ModelNotFound as exc:
        raise ConfigError(f"model.path: {exc}") from None
    num_layers = len(decoder_layers(model))
    layers = check_layer_spec(cfg.layer.spec, num_layers, cfg.layer.profile)
    boost = (
        check_layer_spec(cfg.layer.boost, num_layers, cfg.layer.profile, "layer.boost")
        if cfg.layer.boost is not None
        else []
    )
    every_layer = len(layers) == num_layers or bool(boost)
    train_embeddings = every_layer if cfg.layer.train_embeddings is None else cfg.layer.train_embeddings
    train_lm_head = every_layer if cfg.layer.train_lm_head is None else cfg.layer.train_lm_head
    layer_report = freeze_except(
        model, list(range(num_layers)) if boost else layers, train_embeddings, train_lm_head
    )
    layer_report["layers"], layer_report["boost"] = layers if not boost else list(range(num_layers)), boost
    optimizer = torch.optim.AdamW(
        optimizer_groups(model, cfg.trainer.lr, boost, cfg.layer.boost_lr_factor), weight_decay=0.0
    )
    loss_config = LossConfig(**OmegaConf.to_container(cfg.algo.loss, resolve=True))
    reuse = cfg.trainer.reuse_prefix and not train_embeddings and not boost and min(layers) > 0
    ref_state = None
    if loss_config.kl_coef:  # the reference policy is a copy of the trained parameters only
        ref_state = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    updater = Updater(
        model,
        optimizer,
        loss_config,
        tokenizer.pad_token_id,
        cfg.trainer.temperature,
        cfg.trainer.micro_batch_size,
        cfg.trainer.grad_clip,
        min(layers) if reuse else None,
        ref_state,
    )
    policy = LMPolicy(
        HFBackend(model, tokenizer),
        tokenizer,
        temperature=cfg.trainer.temperature,
        top_p=cfg.trainer.top_p,
        max_new_tokens=cfg.model.max_new_tokens,
        max_prompt_tokens=cfg.model.max_prompt_tokens,
        seed=cfg.seed,
        capture_layer=min(layers) if reuse and cfg.trainer.capture_prefix else None,
    )
    model_env_kwargs = cfg.model.env_kwargs.get(cfg.env.name)  # the difficulty the model was warm-started on
    env_kwargs = {
        **OmegaConf.to_container(cfg.env.kwargs, resolve=True),
        **(OmegaConf.to_container(model_env_kwargs, resolve=True) if model_env_kwargs else {}),
    }
    template = load_template(cfg.env.name, cfg.model.prompt_variant, cfg.model.history_length)
    batch = EnvBatch(cfg.env.name, cfg.trainer.groups * cfg.trainer.group_size, **env_kwargs)
    return Run(model, tokenizer, policy, updater, layer_report, env_kwargs, template, batch)


def rollout_iteration(run: Run, cfg: DictConfig, iteration: int) -> Rollout:
    """G groups x N envs on fresh training tasks (seeded by the iteration), sampled at the train temperature."""
    seeds = [
        TRAIN_SEED_OFFSET + cfg.seed * 100_003 + iteration * cfg.trainer.groups + g
        for g in range(cfg.trainer.groups)
    ]
    return collect_rollout(
        run.envs, run.policy, run.template, seeds, cfg.trainer.group_size, run.env_kwargs.get("max_steps", 50)
    )


def compute_advantages(rollout: Rollout, cfg: DictConfig) -> Advantages:
    """The configured estimator over the rollout's flat step samples."""
    options = OmegaConf.to_container(cfg.algo.advantage, resolve=True)
    return estimate_advantages(cfg.algo.name, rollout.step_batch(), options)


def update_policy(
    run: Run, cfg: DictConfig, rollout: Rollout, advantages: np.ndarray, iteration: int
) -> dict[str, float]:
    """PPO epochs over the rollout's step samples: only those with a learning signal unless
    `trainer.drop_zero_advantage` is off (a KL or entropy term wants them all)."""
    keep = (
        np.flatnonzero(np.abs(advantages) > 1e-8)
        if cfg.trainer.drop_zero_advantage
        else np.arange(len(advantages))
    )
    metrics: dict[str, float] = {"train/update_samples": int(len(keep))}
    if len(keep):
        steps = [rollout.steps[i] for i in keep]
        metrics.update(
            run.updater.update(
                [s.prompt_ids for s in steps],
                [s.response_ids for s in steps],
                [s.response_logprobs for s in steps] if cfg.trainer.rollout_logprobs_as_old else None,
                advantages[keep],
                cfg.trainer.ppo_epochs,
                cfg.trainer.mini_batches,
                np.random.default_rng(
                    [cfg.seed, iteration]
                ),  # per iteration, so a resumed run shuffles alike
                [s.hidden for s in steps] if run.policy.capture_layer is not None else None,
            )
        )
    return metrics


def sync_rollout_weights(run: Run) -> None:
    """Hand the trained layers to the rollout engine: locally a no-op by construction, because `HFBackend`
    generates with the very model object the optimizer steps (checked, so a backend with its own copy of
    the weights, which would need `load_layer_weights`, cannot silently roll out stale ones)."""
    if run.policy.backend.model is not run.model:
        raise RuntimeError("the local trainer's rollout backend must generate with the trained model itself")


def split_name(split: str | None) -> str:
    """The key of an evaluation split in summaries ("eval" for envs without splits)."""
    return "eval" if split is None else str(split)


def evaluate_policy(run: Run, cfg: DictConfig, split: str | None) -> EvalResult:
    """Greedy (or `trainer.eval_temperature`) success on an evaluation split, with its 95% CI."""
    policy = LMPolicy(
        run.policy.backend,
        run.tokenizer,
        temperature=cfg.trainer.eval_temperature,
        max_new_tokens=cfg.model.max_new_tokens,
        max_prompt_tokens=cfg.model.max_prompt_tokens,
        seed=cfg.seed,
    )
    kwargs = dict(run.env_kwargs, **({"split": split} if split else {}))
    return evaluate(
        policy,
        cfg.env.name,
        run.template,
        cfg.trainer.eval_episodes,
        kwargs,
        kwargs.get("max_steps", 50),
        batch_size=cfg.trainer.eval_batch_size,
    )


def evaluate_splits(run: Run, cfg: DictConfig) -> dict[str, EvalResult]:
    """`evaluate_policy` on every evaluation split of the env, keyed by `split_name`."""
    return {split_name(split): evaluate_policy(run, cfg, split) for split in cfg.env.eval_splits}


def compare(base: dict[str, EvalResult], final: dict[str, EvalResult]) -> dict[str, dict[str, Any]]:
    """Before and after per split, and the two paired task by task (summary.json's `base`, `final`, `paired`)."""
    return {
        "base": {split: result.to_dict() for split, result in base.items()},
        "final": {split: result.to_dict() for split, result in final.items()},
        "paired": {split: paired_change(base[split], result) for split, result in final.items()},
    }


def train(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run RL for `trainer.iterations` iterations in `out_dir`; resume from its checkpoint when there is one."""
    if cfg.trainer.lr_schedule not in ("constant", "cosine"):
        raise ConfigError(f"trainer.lr_schedule must be constant or cosine; got {cfg.trainer.lr_schedule!r}")
    run = setup(cfg)
    ckpt_dir = out_dir / "checkpoints"
    state = load_checkpoint(ckpt_dir) if cfg.trainer.resume == "auto" else None
    if state is not None and run_identity(state["config"]) != run_identity(
        OmegaConf.to_container(cfg, resolve=True)
    ):
        raise ConfigError(
            f"{ckpt_dir} holds a run with another config; use another hydra.run.dir or trainer.resume=never"
        )
    start, history, base, wall = 0, [], None, 0.0
    if state is not None:  # resume: trained parameters, optimizer, RNG, policy sampling counter, history
        run.model.load_state_dict(state["trained"], strict=False)
        run.updater.optimizer.load_state_dict(state["optimizer"])
        run.policy.calls, start, history, base, wall = (
            state["policy_calls"],
            state["iteration"],
            state["history"],
            state["base"],
            state["wall_time_s"],
        )
    if base is None:
        base = evaluate_splits(run, cfg)
    started = time.perf_counter() - wall
    logger = MetricsLogger(
        out_dir, history, cfg.trainer.wandb_project, out_dir.name, OmegaConf.to_container(cfg, resolve=True)
    )
    bar = tqdm(range(start, cfg.trainer.iterations), desc="RL", initial=start, total=cfg.trainer.iterations)
    for iteration in bar:
        metrics: dict[str, Any] = {"iteration": iteration + 1}
        metrics["train/lr"] = set_learning_rate(run.updater.optimizer, cfg, iteration)
        # rollout
        tick = time.perf_counter()
        rollout = rollout_iteration(run, cfg, iteration)
        metrics.update({f"train/{k}": v for k, v in rollout.metrics().items()})
        metrics["time/rollout_s"] = time.perf_counter() - tick
        # advantages
        tick = time.perf_counter()
        adv = compute_advantages(rollout, cfg)
        metrics["time/advantage_s"] = time.perf_counter() - tick
        metrics.update(advantage_metrics(adv))
        logger.histogram("train/step_group_size", adv.step_group_size, iteration + 1)
        # update
        tick = time.perf_counter()
        metrics.update(update_policy(run, cfg, rollout, adv.total, iteration))
        metrics["time/update_s"] = time.perf_counter() - tick
        # sync: nothing to send, the rollout generates with the model the update just stepped
        sync_rollout_weights(run)
        metrics["train/trainable_params"] = run.layer_report["trainable_params"]
        # evaluation
        if (
            cfg.trainer.eval_every
            and (iteration + 1) % cfg.trainer.eval_every == 0
            and iteration + 1 < cfg.trainer.iterations
        ):
            for split, result in evaluate_splits(run, cfg).items():
                metrics[f"eval/{split}/success"] = result.success
                if result.score is not None:
                    metrics[f"eval/{split}/score"] = result.score
        history.append(metrics)
        logger.log(metrics)
        bar.set_postfix(
            success=f"{metrics['train/success_rate']:.2f}", ret=f"{metrics['train/episode_return']:.2f}"
        )
        # checkpoint
        if (iteration + 1) % cfg.trainer.checkpoint_every == 0 or iteration + 1 == cfg.trainer.iterations:
            save_checkpoint(
                ckpt_dir,
                {
                    "config": OmegaConf.to_container(cfg, resolve=True),
                    "iteration": iteration + 1,
                    "trained": {
                        n: p.detach().clone() for n, p in run.model.named_parameters() if p.requires_grad
                    },
                    "optimizer": run.updater.optimizer.state_dict(),
                    "policy_calls": run.policy.calls,
                    "history": history,
                    "base": base,
                    "wall_time_s": time.perf_counter() - started,
                },
            )
    final = base if start == cfg.trainer.iterations == 0 else evaluate_splits(run, cfg)
    summary = {
        "env": cfg.env.name,
        "algo": cfg.algo.name,
        "model": cfg.model.name,
        "layers": run.layer_report["layers"],
        "boost": run.layer_report["boost"],
        "num_layers": run.layer_report["num_layers"],
        "trainable_params": run.layer_report["trainable_params"],
        "total_params": run.layer_report["total_params"],
        "optimizer_params": sum(p.numel() for g in run.updater.optimizer.param_groups for p in g["params"]),
        "wall_time_s": time.perf_counter() - started,
        "iterations": cfg.trainer.iterations,
        **compare(base, final),
    }
    logger.close()
    run.envs.close()
    write_report(out_dir, cfg, summary, history, {"base": base, "final": final})
    if cfg.trainer.export_merged:
        run.model.save_pretrained(out_dir / "merged")
        run.tokenizer.save_pretrained(out_dir / "merged")
    return summary


def set_learning_rate(optimizer: torch.optim.Optimizer, cfg: DictConfig, iteration: int) -> float:
    """Set this iteration's learning rate (linear warm-up, then constant or cosine to 0); returns the base one."""
    schedule, warmup, total = cfg.trainer.lr_schedule, cfg.trainer.warmup_iterations, cfg.trainer.iterations
    factor = 1.0
    if iteration < warmup:
        factor = (iteration + 1) / warmup
    elif schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * (iteration - warmup) / max(total - warmup, 1)))
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * factor
    return cfg.trainer.lr * factor
