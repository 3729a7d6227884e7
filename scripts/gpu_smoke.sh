#!/usr/bin/env bash
# GPU smoke check of layer-only training (one GPU, no network, < 8 minutes):
#   one GiGPO iteration with layer=mid and one with layer=all on the ALFWorld-style env, with a randomly
#   initialised Qwen2.5-1.5B-shaped model; prints iteration time, peak GPU memory and bytes synced as
#   mid/all ratios; if vllm is importable, also syncs only the mid layer into vLLM and checks the copy.
#   Then one forward/backward/step per layer spec under verl's FSDP2 wrap (one unit per decoder layer) after
#   our freeze, checking that only the chosen layer's weights move; prints its time and memory ratios.
#
# Assumes on the GPU machine (nothing can be downloaded there):
#   - a Python 3.10-3.12 ($PYTHON, default python3) with a CUDA build of torch, transformers 5.x,
#     tokenizers, numpy, omegaconf/hydra-core, gymnasium, rapidfuzz, tqdm, matplotlib and verl 0.9.1
#     (layerverl imports verl's core_algos, and verl imports ray and datasets); vllm is optional.
#     scripts/gpu_wheels.sh fetches what such an image lacks as wheels, to install with --no-index;
#   - this repository's working tree as the current directory's parent of scripts/.
# Writes $OUT/gpu_smoke.json (OUT defaults to /tmp). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
OUT_DIR="${OUT:-/tmp}"

echo "== versions"
"$PYTHON" - <<'PY'
import importlib, sys
print("python", sys.version.split()[0])
for name in ("torch", "transformers", "verl", "vllm"):
    try:
        module = importlib.import_module(name)
        extra = f" (cuda {module.version.cuda}, {module.cuda.device_count()} GPU)" if name == "torch" else ""
        print(name, getattr(module, "__version__", "?") + extra)
    except Exception as error:  # vllm is optional; the others are checked below
        print(name, f"not importable: {type(error).__name__}: {error}")
PY
echo "== nvidia-smi"
nvidia-smi || { echo "gpu_smoke: nvidia-smi failed: no GPU visible" >&2; exit 1; }

echo "== dependencies"
"$PYTHON" - <<'PY'
import importlib.util, sys
needed = ["torch", "transformers", "tokenizers", "numpy", "omegaconf", "hydra", "gymnasium", "verl", "rapidfuzz", "tqdm"]
missing = [name for name in needed if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(f"gpu_smoke: missing Python packages on this machine: {', '.join(missing)}")
PY
# deps are present: install only the project itself (no network, so no deps and no build isolation);
# PYTHONPATH makes the checkout importable even if the editable install cannot be built here
"$PYTHON" -m pip install -q -e . --no-deps --no-build-isolation || echo "gpu_smoke: pip install -e . failed; using PYTHONPATH"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false

echo "== smoke run"
timeout 450 "$PYTHON" benchmarks/gpu_smoke.py --device cuda --out "$OUT_DIR/gpu_smoke.json"
echo "gpu_smoke: OK ($OUT_DIR/gpu_smoke.json)"
