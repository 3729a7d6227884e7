"""Where an HF causal LM keeps its decoder blocks; shared by generation (agents) and training (layerverl)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder blocks of an HF causal LM (Qwen2/Qwen3/Llama/Mistral `model.layers` and look-alikes)."""
    from torch import nn  # here, not at the top: `layerverl.layers` (config checks) imports this module

    num_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for name in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        module: Any = model
        for part in name.split("."):
            module = getattr(module, part, None)
        if isinstance(module, nn.ModuleList) and (num_layers is None or len(module) == num_layers):
            return module
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}: expected `model.layers`")
