"""The actor loss wraps verl's core_algos; micro-batch losses add up to the mini-batch loss."""

import pytest
import torch

from layerverl.losses import LOSS_AGG_MODES, LossConfig, actor_loss
from layerverl.update import token_logprobs


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    log_prob = torch.randn(6, 5, generator=g).requires_grad_(True)
    old = log_prob.detach() + 0.3 * torch.randn(6, 5, generator=g)
    adv = torch.randn(6, 1, generator=g).expand(6, 5)
    mask = torch.ones(6, 5)
    mask[0, 3:] = 0
    mask[4, 1:] = 0
    return log_prob, old, adv, mask


@pytest.mark.parametrize("mode", LOSS_AGG_MODES)
def test_micro_batches_sum_to_the_mini_batch_loss(mode):
    log_prob, old, adv, mask = batch()
    config = LossConfig(loss_agg_mode=mode, loss_scale_factor=5)
    tokens, seqs = int(mask.sum()), int((mask.sum(-1) > 0).sum())
    whole, _ = actor_loss(config, log_prob, old, adv, mask, tokens, seqs)
    parts = sum(
        actor_loss(config, log_prob[s], old[s], adv[s], mask[s], tokens, seqs)[0]
        for s in (slice(0, 2), slice(2, 6))
    )
    torch.testing.assert_close(parts, whole)


def test_unclipped_ratio_one_gives_minus_mean_advantage():
    log_prob, _, adv, mask = batch()
    loss, metrics = actor_loss(LossConfig(), log_prob, log_prob.detach(), adv, mask, int(mask.sum()), 6)
    torch.testing.assert_close(loss, -(adv * mask).sum() / mask.sum())
    assert metrics["actor/pg_clipfrac"] == 0.0


def test_kl_and_entropy_terms():
    log_prob, old, adv, mask = batch()
    base, _ = actor_loss(LossConfig(), log_prob, old, adv, mask, int(mask.sum()), 6)
    same_ref, m = actor_loss(
        LossConfig(kl_coef=0.5), log_prob, old, adv, mask, int(mask.sum()), 6, ref_log_prob=log_prob.detach()
    )
    torch.testing.assert_close(same_ref, base)
    assert m["actor/kl_loss"] == pytest.approx(0.0, abs=1e-7)
    shifted, m = actor_loss(
        LossConfig(kl_coef=0.5),
        log_prob,
        old,
        adv,
        mask,
        int(mask.sum()),
        6,
        ref_log_prob=log_prob.detach() - 1.0,
    )
    assert m["actor/kl_loss"] > 0 and shifted > base
    entropy = torch.full((6, 5), 2.0)
    bonus, m = actor_loss(
        LossConfig(entropy_coeff=0.1), log_prob, old, adv, mask, int(mask.sum()), 6, entropy=entropy
    )
    torch.testing.assert_close(bonus, base - 0.2)
    assert m["actor/entropy"] == pytest.approx(2.0)


def test_bad_loss_config_names_choices():
    with pytest.raises(ValueError, match="loss_agg_mode must be one of token-mean"):
        LossConfig(loss_agg_mode="mean")
    with pytest.raises(ValueError, match="kl_type"):
        LossConfig(kl_type="js")


def test_entropy_for_logging_keeps_no_graph():
    logits = torch.randn(2, 3, 7, requires_grad=True)
    targets = torch.randint(0, 7, (2, 3))
    chosen, logged = token_logprobs(logits, targets, 1.0, entropy_grad=False)
    _, trained = token_logprobs(logits, targets, 1.0)
    assert chosen.requires_grad and trained.requires_grad and not logged.requires_grad
    torch.testing.assert_close(logged, trained.detach())
