"""Frozen-prefix reuse: when nothing below layer k trains, run layers 0..k-1 once per sample.

With the embeddings and layers 0..k-1 frozen, the hidden states entering layer k depend only on the
tokens, so every PPO epoch and every old/reference log-prob pass can start at layer k from a cache.
`hidden_before_layer` computes that cache, or the rollout records it while it generates
(`recording_layer_inputs`); `hidden_from_layer` runs the rest of the decoder on it.
Both work on HF decoder models whose `forward` accepts `inputs_embeds` unscaled (Qwen2/Qwen3/Llama).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import torch
from torch import nn

from agents.decoder_layers import decoder_layers


class _StopForward(Exception):
    """Raised by the recording hook to skip the layers above the cut."""


@contextmanager
def recording_layer_inputs(model: nn.Module, layer: int, stop: bool = False) -> Iterator[list[torch.Tensor]]:
    """Inside the block, every forward appends the hidden states entering `layer` (detached) to the
    yielded list; with `stop`, the forward ends there (the caller catches `_StopForward`)."""
    seen: list[torch.Tensor] = []

    def record(module: nn.Module, args: tuple, kwargs: dict) -> None:
        seen.append((args[0] if args else kwargs["hidden_states"]).detach())
        if stop:
            raise _StopForward

    handle = decoder_layers(model)[layer].register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def hidden_before_layer(model: nn.Module, layer: int, **inputs: torch.Tensor) -> torch.Tensor:
    """The hidden states entering `layer` (bs, seq, hidden), computed without gradients."""
    with recording_layer_inputs(model, layer, stop=True) as seen, torch.no_grad(), suppress(_StopForward):
        model(**inputs, use_cache=False)
    return seen[0]


@contextmanager
def layers_from(model: nn.Module, layer: int) -> Iterator[None]:
    """Temporarily make the model's decoder stack start at `layer` (its `layer_types` shift along)."""
    base = model.get_decoder()
    layers, config = base.layers, base.config
    layer_types = getattr(config, "layer_types", None)
    base.layers = nn.ModuleList(list(layers)[layer:])
    if layer_types is not None:
        config.layer_types = list(layer_types)[layer:]
    try:
        yield
    finally:
        base.layers = layers
        if layer_types is not None:
            config.layer_types = layer_types


def hidden_from_layer(
    model: nn.Module,
    layer: int,
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    position_ids: torch.Tensor,
) -> torch.Tensor:
    """The decoder's final (normed) hidden states (bs, seq, hidden) run from `layer` upward on cached
    `hidden` states; the head is the caller's, so it can run on the columns it needs only."""
    with layers_from(model, layer):
        return model.get_decoder()(
            inputs_embeds=hidden,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        ).last_hidden_state
