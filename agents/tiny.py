"""The tiny default policy: a word-level tokenizer trained on env text and a small Qwen3 built from a config.

The tokenizer's units are the env's words, and a name with its number ("cabinet 1") is one unit, so
copying an object or receptacle from the prompt is copying one token; that is what lets a ~2M-parameter
model imitate the expert on 2 CPU cores (reference/feasibility_rl.md). Both save and load with
`save_pretrained` / `AutoTokenizer` / `AutoModelForCausalLM` like any Hugging Face checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
)

PAD, UNK, EOS, BOS = "<pad>", "<unk>", "<|im_end|>", "<|im_start|>"
SPECIAL_TOKENS = [PAD, UNK, "<|endoftext|>", BOS, EOS]
TAG_TOKENS = ["<action>", "</action>", "<think>", "</think>"]
CHAT_WORDS = ["system", "user", "assistant"]
# Word-level units that keep their spacing, so decoding gives back the text exactly: a whitespace run becomes
# SPACE, which starts the next unit ("a apple 2" -> "a", "▁apple▁2"); it separates units unless it joins a
# lowercase word to its number; punctuation stands alone. Joining the units with spaces instead (no decoder)
# turned "search[red shoes]" into "search [ red shoes ]" and "[A C]" into "[ A C ]", which WebShop and
# TextArena reject as moves: a policy trained on those envs could never act.
SPACE = "\u2581"
WORD_SPLIT = Regex(rf"{SPACE}(?!\d)|(?<![a-z]){SPACE}")
# A bracket's argument starts with a space unit too, so its first word is the unit the prompt shows: without
# it, "click[big & tall]" began with "big" where the task says "▁big", and a 1.9M-parameter WebShop policy
# copied a search or an option value from its task on 57% and 26% of the steps after 3,000 SFT steps.
OPEN_BRACKET = "[" + SPACE
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
DEFAULT_CHECKPOINT = Path(__file__).parent / "checkpoints" / "tiny-alfworld"


@dataclass(frozen=True)
class TinyConfig:
    """Shape of the tiny Qwen3 (defaults: 8 layers x 128 wide, about 1.7M parameters)."""

    hidden_size: int = 128
    num_layers: int = 8
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 32
    intermediate_size: int = 384
    max_position_embeddings: int = 512
    tie_word_embeddings: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def train_tokenizer(texts: Iterable[str], min_frequency: int = 1) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over `texts` with ChatML specials, the action/think tags and a chat template;
    decoding returns the encoded text exactly (whitespace runs become one space)."""
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(r"\s+"), SPACE), normalizers.Replace("[", OPEN_BRACKET)]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(WORD_SPLIT, "merged_with_next"), pre_tokenizers.Punctuation("isolated")]
    )
    tokenizer.decoder = decoders.Sequence(
        [decoders.Fuse(), decoders.Replace(OPEN_BRACKET, "["), decoders.Replace(SPACE, " ")]
    )
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS, min_frequency=min_frequency)
    # the roles as the chat template writes them (right after <|im_start|>, no space), and a lone space unit,
    # which ends a prompt whose last line break has nothing after it
    tokenizer.train_from_iterator([*texts, *CHAT_WORDS, SPACE], trainer=trainer)
    tokenizer.add_tokens(TAG_TOKENS)  # whole units, but not special: decoding keeps them for parse_action
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=["<|endoftext|>"],
        padding_side="left",  # generation pads on the left; the constructor argument is what gets saved
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,  # the decoder already gives the text back as it was
    )


def build_model(
    tokenizer: PreTrainedTokenizerFast, config: TinyConfig | None = None, seed: int = 0
) -> Qwen3ForCausalLM:
    """A freshly initialised Qwen3 causal LM sized by `config` for `tokenizer`'s vocabulary."""
    import torch

    config = config or TinyConfig()
    torch.manual_seed(seed)
    qwen_config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        head_dim=config.head_dim,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=config.tie_word_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        attn_implementation="sdpa",
    )
    return Qwen3ForCausalLM(qwen_config)


def load_pretrained(path: str | Path = DEFAULT_CHECKPOINT):
    """(model, tokenizer) from a local directory or hub id; `path` defaults to the shipped tiny checkpoint."""
    path = Path(path) if Path(path).exists() else path
    if path == DEFAULT_CHECKPOINT and not DEFAULT_CHECKPOINT.exists():
        raise FileNotFoundError(
            f"the default tiny checkpoint is missing at {DEFAULT_CHECKPOINT}; regenerate it with "
            "`python -m agents.warm_start --out agents/checkpoints/tiny-alfworld`"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(path), padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(str(path))
    return model, tokenizer
