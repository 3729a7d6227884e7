"""The last decoder layer on the kept columns only.

When only the last `keep` columns' logits are wanted (HF's `logits_to_keep`, the update's response
columns), the last decoder layer still needs keys and values from every column, but its queries,
attention output, o_proj and MLP only for those columns: the other columns' outputs feed nothing.
`last_layer_keeps` runs that layer in two calls: the leading columns only as far as their keys and values
(caught from the attention's cache update), then the kept columns attending to all of them; with a real
cache (a generation's prefill) the leading keys and values are stored in it first. Exact, and it works on
any HF decoder layer whose attention hands its keys and values to `past_key_values.update` (Qwen2/Qwen3/
Llama); other attention kinds and masks run the layer unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import torch
from torch import nn

from agents.decoder_layers import decoder_layers


class _Stop(Exception):
    """Raised once the leading columns' keys and values are caught."""


class _LeadingKeysValues:
    """A stand-in for an HF cache: the first `update` catches the leading columns' keys and values and
    stops the layer; later ones prepend them to the kept columns' own."""

    def __init__(self) -> None:
        self.leading: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def update(self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int, *args, **kwargs):
        if self.leading is None:
            self.leading = keys, values, layer_idx
            raise _Stop
        return torch.cat([self.leading[0], keys], dim=2), torch.cat([self.leading[1], values], dim=2)


def _kept_rows(
    mask: torch.Tensor | None, cut: int, width: int, dtype: torch.dtype, sdpa: bool
) -> torch.Tensor:
    """The 4D attention mask's rows of the kept columns; without a mask (no padding), the causal one."""
    if mask is not None:
        return mask[:, :, cut:, :]
    allowed = torch.ones(width - cut, width, dtype=torch.bool).tril(cut)[None, None]
    if sdpa:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)


def _keeping_forward(layer: nn.Module, keep: int, sdpa: bool):
    forward = layer.forward

    def run(
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        **kwargs,
    ) -> torch.Tensor:
        cut = hidden_states.shape[1] - keep
        if (
            cut <= 0
            or position_embeddings is None
            or not (attention_mask is None or attention_mask.dim() == 4)
        ):
            return forward(
                hidden_states,
                attention_mask=attention_mask,
                position_embeddings=position_embeddings,
                **kwargs,
            )
        cache = kwargs.pop("past_key_values", None)
        positions = kwargs.pop("position_ids", None)
        catch, (cos, sin) = _LeadingKeysValues(), position_embeddings
        with suppress(_Stop):
            forward(
                hidden_states[:, :cut],
                attention_mask=None,
                position_embeddings=(cos[:, :cut], sin[:, :cut]),
                past_key_values=catch,
                position_ids=None if positions is None else positions[:, :cut],
                **kwargs,
            )
        if catch.leading is None:  # this attention never handed its keys and values over: run the layer whole
            return forward(
                hidden_states,
                attention_mask=attention_mask,
                position_embeddings=position_embeddings,
                past_key_values=cache,
                position_ids=positions,
                **kwargs,
            )
        if (
            cache is not None
        ):  # a real cache (prefill for generation) stores the leading keys and values first
            cache.update(*catch.leading)
        kept = forward(
            hidden_states[:, cut:],
            attention_mask=_kept_rows(attention_mask, cut, hidden_states.shape[1], hidden_states.dtype, sdpa),
            position_embeddings=(cos[:, cut:], sin[:, cut:]),
            past_key_values=catch if cache is None else cache,
            position_ids=None if positions is None else positions[:, cut:],
            **kwargs,
        )
        return torch.cat([hidden_states[:, :cut], kept], dim=1)  # the leading columns' outputs are never read

    return run


@contextmanager
def last_layer_keeps(model: nn.Module, keep: int) -> Iterator[None]:
    """Inside the block, the model's last decoder layer computes outputs for the last `keep` columns only
    (the others pass through unchanged); use it with `logits_to_keep=keep`. `keep=0` changes nothing."""
    implementation = getattr(model.config, "_attn_implementation", None)
    if keep <= 0 or implementation not in ("sdpa", "eager"):
        yield
        return
    layer = decoder_layers(model)[-1]
    own = vars(layer).get(
        "forward"
    )  # a forward set on the instance already (accelerate's device hooks) stays
    layer.forward = _keeping_forward(layer, keep, implementation == "sdpa")
    try:
        yield
    finally:
        if own is None:
            del layer.forward
        else:
            layer.forward = own
