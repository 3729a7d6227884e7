#!/usr/bin/env bash
# Fetch, on a machine with PyPI access, the wheels scripts/gpu_smoke.sh needs on a GPU machine that has
# torch/transformers but no network: verl 0.9.1 and what importing it pulls in (ray is stripped to what
# `import ray` loads: its cluster binaries, jars and dashboard are not needed by the smoke check).
#   bash scripts/gpu_wheels.sh [DIR]   (default .whl; Python 3.12, x86-64)
# On the GPU machine: pip install --no-index --no-deps --target /tmp/site DIR/*.whl,
# tar xJf DIR/ray-*-stripped.tar.xz -C /tmp/site, export PYTHONPATH=/tmp/site.
set -euo pipefail
DIR="${1:-.whl}"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
download() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
             "${PLATFORMS[@]}" -d "$1" "${@:2}"; }
download "$DIR" verl==0.9.1 tensordict==0.10.0 pyvers==0.1.0 orjson==3.13.0 codetiming==1.4.0 \
    omegaconf==2.3.0 hydra-core==1.3.2 gymnasium==1.4.0 farama-notifications==0.0.6 \
    rapidfuzz==3.14.6 importlib-metadata==10.2.0 dill==0.4.1 jsonschema==4.26.0 jsonschema-specifications==2025.9.1 \
    referencing==0.37.0 rpds-py==2026.9.1 wcwidth==0.9.4 datasets==5.2.0 multiprocess==0.70.19
python3 -m pip wheel -q --no-deps -w "$DIR" antlr4-python3-runtime==4.9.3  # sdist only: build it (pure Python)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
download "$tmp" ray==2.60.0
(cd "$tmp" && unzip -q ray-*.whl && rm -rf ray/jars ray/core/src/ray/raylet ray/core/src/ray/gcs ray/dashboard/client \
    ray/_private/runtime_env/agent/thirdparty_files ray/serve ray/rllib ray/tune ray/train ray/air ray/data &&
    tar cJf ray-2.60.0-cp312-stripped.tar.xz ray ray-2.60.0.dist-info)
mv "$tmp"/ray-2.60.0-cp312-stripped.tar.xz "$DIR"/
du -sh "$DIR"
