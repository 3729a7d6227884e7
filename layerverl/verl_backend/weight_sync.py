"""Layer-only weight sync to the rollout engine, and the check that the engine really got the weights.

Everything outside the trained layers is frozen and equal to the checkpoint vLLM loaded, so a sync only
needs the trained layers' tensors (plus embeddings / head when those train). verl issue #7495 shows a
sync can fail silently, so after each sync the rollout engine's copy of every trained layer is compared
with the trainer's through a *fingerprint*: integer sums over the bit patterns of the layer's weights in
the rollout dtype. Integer sums are exact and order-free, so they match bit for bit even though vLLM
fuses q/k/v and gate/up projections into single tensors, and any changed weight shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

LAYER_INDEX = re.compile(r"(?:^|\.)layers\.(\d+)\.")
EMBEDDING_PARAM = re.compile(r"(^|\.)embed_tokens\.")
HEAD_PARAM = re.compile(r"(^|\.)(lm_head\.|norm\.weight$)")  # the LM head and the final norm
FINGERPRINT_MODULUS = 65521  # largest prime below 2**16: keeps sums of squares inside int64


class WeightSyncError(RuntimeError):
    """The rollout engine's copy of a trained layer differs from the trainer's after a sync."""


@dataclass
class SyncRecord:
    """What one sync sent: tensor names, bytes, and each trained layer's fingerprint."""

    names: list[str] = field(default_factory=list)
    bytes_sent: int = 0
    fingerprints: dict[int, list[int]] = field(default_factory=dict)


def trained_name_filter(layers: list[int], train_embeddings: bool = False, train_lm_head: bool = False):
    """A predicate over HF parameter names: True for what trains (decoder layers `layers`, optionally the
    embeddings and the final norm + LM head)."""
    wanted = set(layers)

    def keep(name: str) -> bool:
        match = LAYER_INDEX.search(name)
        if match:
            return int(match.group(1)) in wanted
        return bool(
            (train_embeddings and EMBEDDING_PARAM.search(name)) or (train_lm_head and HEAD_PARAM.search(name))
        )

    return keep


def fingerprint(tensor: torch.Tensor, dtype: torch.dtype) -> list[int]:
    """[sum of bit patterns, sum of squared bit patterns mod p] of `tensor` cast to `dtype` (exact)."""
    values = tensor.detach().to(dtype).contiguous().flatten()
    bits = values.view({1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}[values.element_size()])
    bits = bits.to(torch.int64)
    residues = bits.remainder(FINGERPRINT_MODULUS)
    return [int(bits.sum()), int((residues * residues).sum())]


def layer_fingerprints(
    named_tensors: Iterable[tuple[str, torch.Tensor]], layers: list[int], dtype: torch.dtype
) -> dict[int, list[int]]:
    """Per-layer fingerprints over every tensor of `layers` (sums of per-tensor fingerprints)."""
    totals: dict[int, list[int]] = {}
    for name, tensor in named_tensors:
        match = LAYER_INDEX.search(name)
        if match and int(match.group(1)) in layers:
            total = totals.setdefault(int(match.group(1)), [0, 0])
            for i, value in enumerate(fingerprint(tensor, dtype)):
                total[i] += value
    return totals


def filter_trained(
    named_tensors: Iterable[tuple[str, torch.Tensor]],
    keep,
    layers: list[int],
    dtype: torch.dtype,
    record: SyncRecord,
) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield only the tensors `keep` accepts, recording names, bytes and fingerprints in `record`."""
    for name, tensor in named_tensors:
        if not keep(name):
            continue
        record.names.append(name)
        record.bytes_sent += tensor.numel() * tensor.element_size()
        for layer, values in layer_fingerprints([(name, tensor)], layers, dtype).items():
            total = record.fingerprints.setdefault(layer, [0, 0])
            total[0], total[1] = total[0] + values[0], total[1] + values[1]
        yield name, tensor


def compare_fingerprints(trainer: dict[int, list[int]], rollout: dict[int, list[int]]) -> None:
    """Raise `WeightSyncError` naming every trained layer whose rollout copy differs or is missing."""
    rollout = {int(k): v for k, v in rollout.items()}
    bad = [k for k in sorted(trainer) if rollout.get(k) != list(trainer[k])]
    if bad:
        raise WeightSyncError(
            f"after the weight sync the rollout engine's copy of layer(s) {bad} differs from "
            "the trainer's: the sync did not arrive (verl #7495); stopping before training "
            "on stale rollouts"
        )


def write_rollout_fingerprints(worker, layers: list[int], dtype_name: str, path: str) -> None:
    """Runs inside each vLLM worker (`collective_rpc`): write its model's layer fingerprints to `path`.<rank>."""
    model = worker.model_runner.model
    prints = layer_fingerprints(model.named_parameters(), layers, getattr(torch, dtype_name))
    rank = getattr(worker, "rank", 0)
    Path(f"{path}.{rank}").write_text(json.dumps(prints))


def read_rollout_fingerprints(path: str) -> dict[int, list[int]] | None:
    """The fingerprints one vLLM worker wrote, or None when the engine is sharded over several workers
    (tensor parallel shards replicate norms, so per-layer sums would not compare) or wrote nothing."""
    files = sorted(Path(path).parent.glob(Path(path).name + ".*"))
    if len(files) != 1:
        return None
    return {int(k): v for k, v in json.loads(files[0].read_text()).items()}
