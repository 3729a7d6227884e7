"""The rollout's token sampler: right distribution, zero-probability tokens never drawn, seeded, logprobs."""

import torch

from agents.backends import inverse_cdf_sample, sample_next


def draws(probs: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return inverse_cdf_sample(probs.repeat(n, 1), generator)


def test_inverse_cdf_sample_follows_unnormalised_probs():
    probs = torch.tensor([[0.2, 0.0, 0.6, 1.2]])  # sums to 2: the sampler normalises
    freq = torch.bincount(draws(probs, 200_000), minlength=4) / 200_000
    assert torch.allclose(freq, probs[0] / 2, atol=0.005), freq
    assert freq[1] == 0


def test_inverse_cdf_sample_never_draws_masked_tokens_at_either_end():
    probs = torch.zeros(1, 6)
    probs[0, 2] = probs[0, 3] = 0.5
    assert set(draws(probs, 50_000).tolist()) == {2, 3}


def test_inverse_cdf_sample_is_reproducible_by_seed():
    probs = torch.softmax(torch.randn(8, 100, generator=torch.Generator().manual_seed(1)), -1)
    assert torch.equal(draws(probs, 3, seed=5), draws(probs, 3, seed=5))
    assert not torch.equal(draws(probs, 3, seed=5), draws(probs, 3, seed=6))


def test_sample_next_returns_the_sampling_distributions_logprob_and_respects_top_p():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(4000, 1)
    token, logprob = sample_next(logits, 0.7, 0.8, torch.Generator().manual_seed(0))
    expected = torch.log_softmax(logits / 0.7, -1).gather(-1, token[:, None])[:, 0]
    assert torch.allclose(logprob, expected)
    kept = torch.softmax(logits[0] / 0.7, -1).cumsum(-1)
    assert set(token.tolist()) == set(range(int((kept < 0.8).sum()) + 1))  # smallest prefix reaching 0.8
    greedy, _ = sample_next(logits[:2], 0.0, 1.0, torch.Generator())
    assert greedy.tolist() == [0, 0]
