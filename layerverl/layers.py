"""Which decoder layers train: layer specs, freezing, and the record of what trains.

Layer k is the whole decoder block `model.layers[k]` (attention, MLP and its norms), 0-based.
Embeddings, the final norm and the LM head stay frozen unless switched on. Gradients still flow
through frozen layers; only trainable parameters reach the optimizer.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.decoder_layers import decoder_layers  # re-exported: `from layerverl.layers import decoder_layers`

if TYPE_CHECKING:  # torch only in annotations, so resolving a layer spec (config checks) stays cheap
    from torch import nn

NAMED_SPECS = ("mid", "first", "last", "all")
PATTERN_SPECS = ("midK", "topK", "bottomK")
PROFILE_SPEC = re.compile(r"(top|bottom)(\d+)")  # Only-Bk / Only-Wk: ranked by a saved profile


def resolve_layers(spec: Any, num_layers: int, profile: str | Path | dict | list | None = None) -> list[int]:
    """Turn a layer spec into a sorted list of 0-based layer indices.

    `mid` = L // 2, `first`, `last`, `all`; an int (negative counts from the end); a list of ints;
    a float in (0, 1) = relative depth (0.5 -> L // 2); `midK` = [floor(L/2 - K/2), floor(L/2 + K/2));
    `topK` / `bottomK` = the K layers with the highest / lowest contribution in a saved per-layer
    `profile` (a JSON file or mapping {layer: C} or a list of C per layer), i.e. Only-Bk / Only-Wk; of a
    partial scan's profile, only its measured layers are ranked.
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    layers = _resolve(spec, num_layers, profile)
    bad = [k for k in layers if not 0 <= k < num_layers]
    if bad or not layers:
        raise ValueError(
            f"layer spec {spec!r} gives {bad or 'no layers'}; valid indices are 0..{num_layers - 1}"
        )
    return sorted(set(layers))


def _resolve(spec: Any, num_layers: int, profile: Any) -> list[int]:
    if isinstance(spec, bool):
        raise ValueError(f"layer spec must not be a bool, got {spec!r}")
    if isinstance(spec, int):
        return [spec + num_layers if spec < 0 else spec]
    if isinstance(spec, float):
        if not 0.0 <= spec < 1.0:
            raise ValueError(f"a relative depth must lie in [0, 1), got {spec}")
        return [int(spec * num_layers)]
    if isinstance(spec, (list, tuple)) or type(spec).__name__ == "ListConfig":
        return [k for item in spec for k in _resolve(item, num_layers, profile)]
    text = str(spec).strip().lower()
    named = {"mid": [num_layers // 2], "first": [0], "last": [num_layers - 1], "all": list(range(num_layers))}
    if text in named:
        return named[text]
    if re.fullmatch(r"-?\d+", text):
        return _resolve(int(text), num_layers, profile)
    if re.fullmatch(r"0?\.\d+", text):
        return _resolve(float(text), num_layers, profile)
    if match := re.fullmatch(r"(mid|top|bottom)(\d+)", text):
        kind, k = match.group(1), int(match.group(2))
        if not 1 <= k <= num_layers:
            raise ValueError(f"layer spec {spec!r}: K must be in 1..{num_layers}")
        if kind == "mid":
            return list(range(math.floor(num_layers / 2 - k / 2), math.floor(num_layers / 2 + k / 2)))
        data = _read_profile(profile)  # the file once, for the scores and the measured layers
        scores = load_profile(data, num_layers, spec)
        candidates = measured_layers(data) or range(num_layers)
        if k > len(candidates):
            raise ValueError(f"layer spec {spec!r}: the profile measured only {len(candidates)} layers")
        return sorted(candidates, key=lambda i: scores[i], reverse=kind == "top")[:k]
    choices = ", ".join(NAMED_SPECS + PATTERN_SPECS)
    raise ValueError(
        f"unknown layer spec {spec!r}; use {choices}, an index, a list of indices or a depth in [0, 1)"
    )


def uses_profile(spec: Any) -> bool:
    """Whether `spec` ranks layers by a saved profile (`topK`, `bottomK`)."""
    return bool(PROFILE_SPEC.fullmatch(str(spec).strip().lower()))


def _read_profile(profile: Any) -> Any:
    """A profile file's JSON; a mapping or list is returned as it is."""
    if not isinstance(profile, (str, Path)):
        return profile
    try:
        return json.loads(Path(profile).read_text())
    except OSError as exc:
        raise ValueError(f"cannot read the profile {profile}: {exc.strerror}") from None


def measured_layers(profile: Any) -> list[int] | None:
    """The layers a partial scan measured (its profile's "measured" list; the rest are interpolated), so
    topK / bottomK rank only layers that ran, as the paper's Only-Bk does; None when every layer counts."""
    data = _read_profile(profile)
    measured = data.get("measured") if isinstance(data, dict) else None
    return [int(k) for k in measured] if measured else None


def load_profile(profile: Any, num_layers: int | None = None, spec: Any = "topK") -> list[float]:
    """Per-layer contribution scores from a JSON file, a {layer: score} mapping or a list
    (`num_layers` None: as many as the profile has)."""
    if profile is None:
        raise ValueError(
            f"layer spec {spec!r} needs a per-layer profile (layer.profile=path/to/profile.json)"
        )
    data = _read_profile(profile)
    profile = data.get("contribution", data) if isinstance(data, dict) else data
    num_layers = len(profile) if num_layers is None else num_layers
    scores = (
        [profile[i] for i in range(num_layers)]
        if isinstance(profile, list)
        else [float(profile.get(i, profile.get(str(i), float("nan")))) for i in range(num_layers)]
    )
    if len(scores) != num_layers or any(math.isnan(s) for s in scores):
        raise ValueError(f"the profile must give a score for each of the {num_layers} layers")
    return [float(s) for s in scores]


def freeze_except(
    model: nn.Module, layers: list[int], train_embeddings: bool = False, train_lm_head: bool = False
) -> dict[str, Any]:
    """Set `requires_grad` so only `layers` (and optionally embeddings / final norm + LM head) train.

    Returns the report written into every run's record: layers, trainable and total parameter counts,
    and trainable parameters per layer.
    """
    blocks = decoder_layers(model)
    layers = resolve_layers(list(layers), len(blocks))
    model.requires_grad_(False)
    for k in layers:
        blocks[k].requires_grad_(True)
    if train_embeddings:
        model.get_input_embeddings().requires_grad_(True)
    if train_lm_head:
        model.get_output_embeddings().requires_grad_(True)
        final_norm = getattr(getattr(model, "model", None), "norm", None)
        if final_norm is not None:
            final_norm.requires_grad_(True)
    return trainable_report(model, layers)


def trainable_report(model: nn.Module, layers: list[int]) -> dict[str, Any]:
    """Parameter counts (each tied tensor counted once) of what trains."""
    unique = {id(p): p for p in model.parameters()}.values()
    blocks = decoder_layers(model)
    return {
        "layers": list(layers),
        "num_layers": len(blocks),
        "trainable_params": sum(p.numel() for p in unique if p.requires_grad),
        "total_params": sum(p.numel() for p in unique),
        "per_layer_params": sum(p.numel() for p in blocks[0].parameters()),
    }


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Only what trains, each tied tensor once: what the optimizer receives."""
    return list({id(p): p for p in model.parameters() if p.requires_grad}.values())


def optimizer_groups(
    model: nn.Module, lr: float, boost_layers: list[int] = (), boost_factor: float = 1.0
) -> list[dict]:
    """Optimizer parameter groups over trainable parameters: `boost_layers` get `lr * boost_factor`
    (Boost-Bk trains every layer, the chosen ones faster); everything else gets `lr`."""
    blocks = decoder_layers(model)
    boosted = {id(p) for k in boost_layers for p in blocks[k].parameters() if p.requires_grad}
    params = trainable_parameters(model)
    groups = [
        {"params": [p for p in params if id(p) not in boosted], "lr": lr},
        {"params": [p for p in params if id(p) in boosted], "lr": lr * boost_factor},
    ]
    return [g for g in groups if g["params"]]
