"""The last layer on kept columns gives the full forward's logits and gradients for those columns."""

import pytest
import torch

from agents.kept_columns import last_layer_keeps
from agents.prefix import hidden_before_layer, hidden_from_layer
from layerverl.layers import freeze_except


@pytest.mark.parametrize("family", ["qwen3", "llama", "qwen2"])
@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("padded", [True, False])
def test_kept_logits_and_gradients_match_full_forward(
    family, implementation, padded, tiny_causal_lm, left_padded_batch
):
    model = tiny_causal_lm(family, 3)
    model.config._attn_implementation = implementation
    freeze_except(model, [1])
    ids, mask, positions = left_padded_batch
    if not padded:  # no padding: HF passes no mask to sdpa and the kept rows need a causal one
        mask, positions = torch.ones_like(mask), torch.arange(7).expand(3, 7)
    full = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=3).logits
    full.square().mean().backward()
    expected = [p.grad.clone() for p in model.model.layers[1].parameters()]
    model.zero_grad()
    with last_layer_keeps(model, 3):
        kept = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=3).logits
    kept.square().mean().backward()
    torch.testing.assert_close(kept, full, rtol=1e-5, atol=1e-5)
    for got, want in zip((p.grad for p in model.model.layers[1].parameters()), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert "forward" not in vars(model.model.layers[-1])  # the layer is restored


def test_kept_columns_from_a_cached_prefix_and_when_the_last_layer_trains(tiny_causal_lm, left_padded_batch):
    model = tiny_causal_lm("qwen3", 3).eval()
    ids, mask, positions = left_padded_batch
    full = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=2).logits
    for layer in (1, 2):
        hidden = hidden_before_layer(model, layer, input_ids=ids, attention_mask=mask, position_ids=positions)
        with last_layer_keeps(model, 2):
            kept = model.lm_head(hidden_from_layer(model, layer, hidden, mask, positions)[:, -2:])
        torch.testing.assert_close(kept, full, rtol=1e-5, atol=1e-5)


def test_last_layer_really_skips_the_leading_columns(tiny_causal_lm, left_padded_batch):
    model = tiny_causal_lm("qwen3", 2).eval()
    ids, mask, positions = left_padded_batch
    widths = []
    handle = model.model.layers[-1].mlp.register_forward_hook(lambda m, a, out: widths.append(out.shape[1]))
    with last_layer_keeps(model, 2):
        model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=2)
    handle.remove()
    assert widths == [2]


def test_an_attention_that_ignores_the_cache_runs_the_layer_whole(tiny_causal_lm, left_padded_batch):
    model = tiny_causal_lm("qwen3", 2).eval()
    ids, mask, positions = left_padded_batch
    full = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=2).logits
    attention = model.model.layers[-1].self_attn
    original = attention.forward
    attention.forward = lambda *args, past_key_values=None, **kwargs: original(*args, **kwargs)
    with last_layer_keeps(model, 2):
        kept = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=2).logits
    torch.testing.assert_close(kept, full, rtol=1e-5, atol=1e-5)


def test_a_forward_already_set_on_the_layer_is_kept_and_restored(tiny_causal_lm, left_padded_batch):
    model = tiny_causal_lm("qwen3", 2).eval()
    ids, mask, positions = left_padded_batch
    full = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=2).logits
    layer, calls = model.model.layers[-1], []
    own = layer.forward

    def hooked(*args, **kwargs):  # like accelerate's add_hook_to_module, which sets forward on the instance
        calls.append(args[0].shape[1])
        return own(*args, **kwargs)

    layer.forward = hooked
    with last_layer_keeps(model, 2):
        kept = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=2).logits
    torch.testing.assert_close(kept, full, rtol=1e-5, atol=1e-5)
    assert calls == [5, 2] and layer.forward is hooked  # both calls went through it, and it is back
