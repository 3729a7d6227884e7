"""Fixtures shared by several test files (pytest finds them here; test files never import each other)."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)


def _tiny_causal_lm(family: str = "qwen3", layers: int = 4, tie: bool = True) -> torch.nn.Module:
    """A seeded causal LM of `family` (qwen3, llama, qwen2) with a 64-token vocabulary and `layers` blocks."""
    torch.manual_seed(0)
    if family == "qwen3":
        return Qwen3ForCausalLM(
            Qwen3Config(
                vocab_size=64,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=layers,
                num_attention_heads=2,
                num_key_value_heads=1,
                head_dim=16,
                tie_word_embeddings=tie,
            )
        )
    config_class, model_class = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
    }[family]
    return model_class(
        config_class(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )


@pytest.fixture
def tiny_causal_lm():
    """Builds tiny seeded HF causal LMs: `tiny_causal_lm(family="qwen3", layers=4, tie=True)`."""
    return _tiny_causal_lm


@pytest.fixture
def left_padded_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, position_ids) of 3 rows x 7 columns for a 64-token vocabulary; rows 0 and 1
    are left-padded (3 and 1 columns)."""
    ids = torch.randint(0, 64, (3, 7), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, :3] = 0
    mask[1, :1] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def _compose_verl(*overrides: str):
    """Our composed config for backend=verl with a 2-iteration, 2 x 4 budget (`overrides` come last)."""
    from hydra import compose, initialize_config_dir

    from layerverl.config import CONFIG_DIR

    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        return compose(
            "config",
            overrides=[
                "backend=verl",
                "trainer.iterations=2",
                "trainer.groups=2",
                "trainer.group_size=4",
                "trainer.eval_episodes=6",
                *overrides,
            ],
        )


@pytest.fixture
def verl_config():
    """`verl_config(*overrides)`: our config composed for backend=verl (tests/test_verl_*.py)."""
    return _compose_verl
