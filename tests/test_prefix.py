"""Frozen-prefix reuse gives the same logits and gradients as the full forward pass."""

import torch

from agents.prefix import hidden_before_layer, hidden_from_layer
from layerverl.layers import freeze_except


def test_logits_match_full_forward_on_left_padded_batch(tiny_causal_lm, left_padded_batch):
    model = tiny_causal_lm("qwen3", 4).eval()
    ids, mask, positions = left_padded_batch
    full = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    for layer in range(4):
        hidden = hidden_before_layer(model, layer, input_ids=ids, attention_mask=mask, position_ids=positions)
        resumed = model.lm_head(hidden_from_layer(model, layer, hidden, mask, positions))
        real = mask.bool()
        torch.testing.assert_close(resumed[real], full[real], rtol=1e-5, atol=1e-5)
    assert len(model.model.layers) == 4  # the stack is restored


def test_gradients_match_full_forward(tiny_causal_lm, left_padded_batch):
    model = tiny_causal_lm("qwen3", 4)
    freeze_except(model, [2])
    ids, mask, positions = left_padded_batch
    model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.square().mean().backward()
    expected = [p.grad.clone() for p in model.model.layers[2].parameters()]
    model.zero_grad()
    hidden = hidden_before_layer(model, 2, input_ids=ids, attention_mask=mask, position_ids=positions)
    assert not hidden.requires_grad
    model.lm_head(hidden_from_layer(model, 2, hidden, mask, positions)).square().mean().backward()
    for got, want in zip((p.grad for p in model.model.layers[2].parameters()), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
