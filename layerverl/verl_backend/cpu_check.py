"""Check a finished `backend=verl` run from its audit (`verl_audit/`, written by the workers when
`LAYERVERL_AUDIT_DIR` is set) against the checkpoint it started from; print one line of figures.

    python -m layerverl.verl_backend.cpu_check RUN_DIR

Asserts: the advantages verl's actor read (back from TransferQueue) equal `layerverl.algos` recomputed on
the same step samples; only the trained layers' tensors were sent, and their bytes; after every sync the
vLLM copy of every layer matches (trained: what was sent; frozen: the checkpoint); the trainer's frozen
layers are bit-identical to the checkpoint, a trained one moved, and the optimizer holds only trained
parameters; the run files of the local backend exist. Loads no verl or Ray (omegaconf reads the
composed verl config the run wrote).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from safetensors.torch import load_file

from agents.step_batch import StepBatch
from layerverl.algos import estimate_advantages
from layerverl.verl_backend.resume import logged_rows
from layerverl.verl_backend.weight_sync import layer_fingerprints, trained_name_filter

RUN_FILES = ("metrics.jsonl", "summary.json", "report.md", "curves.png")
TRAINER_PEAK = "actor/perf/max_memory_allocated_gb"
MACHINE_USED = "actor/perf/cpu_memory_used_gb"


class CheckFailed(AssertionError):
    """The run does not show what the CPU check requires."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def check_advantages(entry: dict) -> int:
    """Recompute one step's advantages from its real step samples (verl's synthetic padding rows left out,
    as the trainer leaves them out) and require advantage 0 on the padding rows; returns the number of
    real samples."""
    options = dict(entry["options"])
    name = options.pop("name")
    padding = entry.get("padding") or [False] * len(entry["keys"])
    real = [i for i, pad in enumerate(padding) if not pad]
    groups, trajectories = [], []
    for i in real:
        uid, session, _ = entry["keys"][i].rsplit("_", 2)
        groups.append(uid)
        trajectories.append(f"{uid}_{session}")
    extra = [entry["extra_fields"][i] for i in real]
    steps = StepBatch(
        episode_return=np.asarray(entry["episode_return"], dtype=float)[real],
        step_reward=[float(e["step_reward"]) for e in extra],
        group_id=np.unique(np.array(groups), return_inverse=True)[1],
        traj_id=np.unique(np.array(trajectories), return_inverse=True)[1],
        step_idx=[int(e["step_idx"]) for e in extra],
        anchor=[e["anchor"] for e in extra],
        valid=[bool(e["valid"]) for e in extra],
    )
    totals = np.asarray(estimate_advantages(name, steps, options).total, dtype=np.float32)
    expected = dict(zip(real, totals, strict=True))
    for i, row in enumerate(entry["advantages"]):
        values = np.asarray(row, dtype=np.float32)
        if padding[i]:
            _require(
                not values.any(),
                f"step {entry['global_steps']} padding row {entry['keys'][i]}: advantage "
                f"{values[:3]}..., not 0",
            )
            continue
        _require(
            values.size > 0 and np.allclose(values, expected[i], rtol=1e-6, atol=1e-6),
            f"step {entry['global_steps']} sample {entry['keys'][i]}: verl used advantages {values[:3]}..., "
            f"layerverl.algos gives {expected[i]}",
        )
    return len(real)


def check_run(run_dir: Path) -> dict:
    """All checks on `run_dir`; returns the figures."""
    summary = json.loads((run_dir / "summary.json").read_text())
    layers, num_layers = summary["layers"], summary["num_layers"]
    for name in RUN_FILES:
        _require((run_dir / name).is_file(), f"{name} missing in {run_dir}")
    audit = run_dir / "verl_audit"
    advantage_files = sorted(audit.glob("advantages_step*.json"))
    sync_files = sorted(audit.glob("sync_step*_rank*.json"))
    _require(advantage_files, f"no advantages audit in {audit}")
    _require(sync_files, f"no sync audit in {audit}")
    entries = [json.loads(f.read_text()) for f in advantage_files]
    samples = sum(check_advantages(entry) for entry in entries)
    trained_on = [e["global_steps"] for e in entries if any(any(row) for row in e["advantages"])]

    model_dir = Path(OmegaConf.load(run_dir / "verl_config.yaml").actor_rollout_ref.model.path)
    initial = load_file(str(model_dir / "model.safetensors"))
    every_layer = list(range(num_layers))
    train_all = len(layers) == num_layers
    keep = trained_name_filter(layers, train_all, train_all)
    trained_names = sorted(n for n in initial if keep(n))
    trained_numel = sum(initial[n].numel() for n in trained_names)
    initial_fp32 = layer_fingerprints(initial.items(), every_layer, torch.float32)
    frozen = [k for k in every_layer if k not in layers]
    syncs, moved = [], False
    for path in sync_files:
        entry = json.loads(path.read_text())
        step = entry["global_steps"]
        sent = entry["sent_names"]
        _require(
            sorted(sent) == trained_names, f"step {step}: sent {len(sent)} tensors, not the trained ones"
        )
        per_element = entry["sent_bytes"] / trained_numel
        _require(
            per_element in (2, 4), f"step {step}: {entry['sent_bytes']} bytes for {trained_numel} weights"
        )
        rollout = {int(k): v for k, v in (entry["rollout_fingerprints"] or {}).items()}
        sent_prints = {int(k): v for k, v in entry["sent_fingerprints"].items()}
        _require(rollout, f"step {step}: no fingerprints from vLLM")
        for k in layers:
            _require(
                rollout.get(k) == sent_prints.get(k), f"step {step}: vLLM's layer {k} is not what was sent"
            )
        initial_rollout = layer_fingerprints(initial.items(), frozen, getattr(torch, entry["rollout_dtype"]))
        for k in frozen:
            _require(rollout.get(k) == initial_rollout[k], f"step {step}: vLLM's frozen layer {k} changed")
        trainer = {int(k): v for k, v in entry["layer_fingerprints"].items()}
        for k in frozen:
            _require(trainer[k] == initial_fp32[k], f"step {step}: the trainer's frozen layer {k} changed")
        moved = moved or any(trainer[k] != initial_fp32[k] for k in layers)
        optimized = entry["optimizer_params"]
        _require(
            all(keep(n) for n in optimized) and entry["optimizer_numel"] == trained_numel,
            f"step {step}: the optimizer holds {entry['optimizer_numel']} weights, not only the trained ones",
        )
        syncs.append(entry)
    _require(
        moved,
        f"no trained layer {layers} moved in {len(syncs)} syncs"
        + ("" if trained_on else " (every advantage was 0: each env group had uniform outcomes)"),
    )
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    verl_rows = [row["data"] for row in logged_rows(run_dir)]
    # the cpu platform's device memory is the trainer worker's peak RSS; cpu_memory_used_gb is the machine's
    peaks = [row[TRAINER_PEAK] for row in verl_rows if TRAINER_PEAK in row]
    machine = [row[MACHINE_USED] for row in verl_rows if MACHINE_USED in row]
    steps = [m.get("time/step_s") for m in metrics if m.get("time/step_s") is not None]
    return {
        "layers": layers,
        "samples_checked": samples,
        "steps_with_nonzero_advantages": trained_on,
        "syncs": len(syncs),
        "sync_bytes": syncs[-1]["sent_bytes"],
        "full_bytes": int(sum(t.numel() for t in initial.values()) * per_element),
        "sync_s": float(np.mean([s["sync_seconds"] for s in syncs])),
        "iteration_s": float(np.mean(steps)) if steps else None,
        "trainer_peak_rss_gb": max(peaks) if peaks else None,
        "machine_used_gb": max(machine) if machine else None,
        "wall_s": summary["wall_time_s"],
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m layerverl.verl_backend.cpu_check RUN_DIR", file=sys.stderr)
        return 2
    try:
        figures = check_run(Path(args[0]))
    except (CheckFailed, OSError, KeyError, ValueError) as error:
        print(f"check failed: {error}")
        return 1
    print("check ok: " + json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
