"""The update phase: step samples -> padded token batches -> log-probs -> PPO epochs over the trained layers.

When the lowest trained layer is k > 0 and the embeddings are frozen, the hidden states entering layer k
never change during training, so they are computed once per sample (`agents.prefix`) or taken from
the rollout, which recorded them while generating; every epoch then runs only layers k..L-1, the final
norm and the head. Batches use verl's layout (prompts left-padded, responses right-padded after them),
so the head, and the last layer past its keys and values (`agents.kept_columns`), run only on the
response columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.kept_columns import last_layer_keeps
from agents.prefix import forward_from_layer, hidden_before_layer
from layerverl.losses import LossConfig, actor_loss


@dataclass
class TokenBatch:
    """Some samples as (bs, prompt_width + response_width) tokens: each prompt left-padded to end at column
    `prompt_width`, its response right-padded after it, so every response sits in the same columns."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    targets: (
        torch.Tensor
    )  # (bs, response_width): the response tokens, predicted by columns prompt_width-1 ...
    response_mask: torch.Tensor  # (bs, response_width): 1 on real response tokens
    prompt_width: int


def token_batch(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> TokenBatch:
    """Pack (prompt, response) pairs into one batch in verl's layout."""
    prompt_width, response_width = max(len(p) for p in prompts), max(len(r) for r in responses)
    input_ids = torch.full((len(prompts), prompt_width + response_width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    response_mask = torch.zeros((len(prompts), response_width), dtype=torch.float32)
    for row, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        columns = slice(prompt_width - len(prompt), prompt_width + len(response))
        input_ids[row, columns] = torch.tensor(prompt + response, dtype=torch.long)
        attention_mask[row, columns] = 1
        response_mask[row, : len(response)] = 1.0
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return TokenBatch(
        input_ids, attention_mask, position_ids, input_ids[:, prompt_width:], response_mask, prompt_width
    )


def response_logits(
    model: nn.Module, batch: TokenBatch, start_layer: int | None = None, prefix: torch.Tensor | None = None
) -> torch.Tensor:
    """Logits (bs, response_width, vocab) that predict the response tokens; the head, and the last layer's
    queries, attention and MLP, run on those columns only. With `prefix` (the hidden states entering
    `start_layer`), only layers from there up run."""
    keep = batch.targets.shape[1] + 1  # the last prompt column and every response column but the last
    with last_layer_keeps(model, keep):
        if prefix is None:
            logits = model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                position_ids=batch.position_ids,
                use_cache=False,
                logits_to_keep=keep,
            ).logits
        else:
            logits = forward_from_layer(
                model, start_layer, prefix, batch.attention_mask, batch.position_ids, keep
            )
    return logits[:, :-1]


def token_logprobs(
    logits: torch.Tensor, targets: torch.Tensor, temperature: float, entropy_grad: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of `targets` under logits / temperature, and the entropy, both (bs, seq). With
    `entropy_grad=False` the entropy is for logging only and keeps no graph (which would hold two more
    (bs, seq, vocab) tensors until the backward pass)."""
    log_probs = torch.log_softmax(logits.float() / max(temperature, 1e-6), dim=-1)
    chosen = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        entropy = -(log_probs.exp() * log_probs).sum(-1)
    return chosen, entropy


class Updater:
    """PPO over step samples for a model whose trainable parameters are already chosen.

    `start_layer` is the lowest trained layer when the frozen prefix can be reused, else None.
    `ref_state` holds the reference policy's copy of the trained parameters only (for the KL term).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_config: LossConfig,
        pad_id: int,
        temperature: float,
        micro_batch_size: int,
        grad_clip: float,
        start_layer: int | None,
        ref_state: dict[str, torch.Tensor] | None = None,
    ):
        self.model, self.optimizer, self.loss_config = model, optimizer, loss_config
        self.pad_id, self.temperature = pad_id, temperature
        self.micro_batch_size, self.grad_clip = micro_batch_size, grad_clip
        self.start_layer = start_layer
        self.ref_state = ref_state

    def forward(self, batch: TokenBatch, prefix: torch.Tensor | None) -> torch.Tensor:
        """Response logits of the batch, from the cached prefix hidden states when there are some."""
        return response_logits(self.model, batch, self.start_layer, prefix)

    def prefix(self, batch: TokenBatch, captured: list[torch.Tensor] | None) -> torch.Tensor | None:
        """The frozen prefix's output for this batch (computed once, reused by every epoch); `captured`
        holds each row's hidden states as the rollout recorded them, right-padded here like the batch."""
        if self.start_layer is None:
            return None
        if captured is not None:
            prefix = captured[0].new_zeros((*batch.input_ids.shape, captured[0].shape[-1]))
            for row, hidden in enumerate(captured):  # the last response token never ran: its column stays 0
                start = batch.prompt_width - int(batch.attention_mask[row, : batch.prompt_width].sum())
                prefix[row, start : start + len(hidden)] = hidden
            return prefix
        return hidden_before_layer(
            self.model,
            self.start_layer,
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=batch.position_ids,
        )

    @torch.no_grad()
    def add_ref_logprobs(self, micro: list[dict]) -> None:
        """Reference log-probs of every micro-batch: swap the reference copy of the trained parameters in
        once, forward each micro-batch, swap back."""
        params = dict(self.model.named_parameters())
        current = {name: params[name].detach().clone() for name in self.ref_state}
        for name, tensor in self.ref_state.items():
            params[name].copy_(tensor)
        try:
            for m in micro:
                m["ref"] = token_logprobs(
                    self.forward(m["batch"], m["prefix"]), m["batch"].targets, self.temperature
                )[0]
        finally:
            for name, tensor in current.items():
                params[name].copy_(tensor)

    def update(
        self,
        prompts: list[list[int]],
        responses: list[list[int]],
        old_logprobs: list[list[float]] | None,
        advantages: np.ndarray,
        epochs: int,
        mini_batches: int,
        rng: np.random.Generator,
        hidden: list[torch.Tensor] | None = None,
    ) -> dict[str, float]:
        """PPO epochs over the samples; returns mean loss metrics and the last grad norm. `hidden` holds
        each sample's inputs of `start_layer` as the rollout recorded them (else the prefix runs here)."""
        micro = self._micro_batches(prompts, responses, old_logprobs, advantages, hidden)
        self.model.train()
        metrics: dict[str, list[float]] = {}
        for _ in range(epochs):
            order = rng.permutation(len(micro))
            for chunk in np.array_split(order, min(mini_batches, len(micro))):
                tokens = sum(float(micro[i]["batch"].response_mask.sum()) for i in chunk)
                sequences = sum(len(micro[i]["advantages"]) for i in chunk)
                self.optimizer.zero_grad(set_to_none=True)
                for i in chunk:
                    for key, value in self._backward(micro[i], int(tokens), sequences).items():
                        metrics.setdefault(key, []).append(value)
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                grad_norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip)
                self.optimizer.step()
                metrics.setdefault("actor/grad_norm", []).append(float(grad_norm))
        self.model.eval()
        return {key: float(np.mean(values)) for key, values in metrics.items()}

    def _micro_batches(self, prompts, responses, old_logprobs, advantages, hidden) -> list[dict]:
        """Micro-batches sorted by prompt length (the padding's main driver), with their prefix cache, old
        and reference log-probs."""
        order = np.argsort([len(p) for p in prompts], kind="stable")
        micro = []
        for start in range(0, len(order), self.micro_batch_size):
            rows = order[start : start + self.micro_batch_size]
            batch = token_batch([prompts[i] for i in rows], [responses[i] for i in rows], self.pad_id)
            with torch.no_grad():
                prefix = self.prefix(batch, [hidden[i] for i in rows] if hidden is not None else None)
                if old_logprobs is None:
                    old = token_logprobs(self.forward(batch, prefix), batch.targets, self.temperature)[0]
                else:  # the rollout's own log-probs
                    old = torch.zeros_like(batch.response_mask)
                    for row, i in enumerate(rows):
                        old[row, : len(old_logprobs[i])] = torch.tensor(old_logprobs[i])
            micro.append(
                {
                    "batch": batch,
                    "prefix": prefix,
                    "old": old,
                    "ref": None,
                    "advantages": torch.tensor(advantages[rows], dtype=torch.float32),
                }
            )
        if self.ref_state is not None:
            self.add_ref_logprobs(micro)
        return micro

    def _backward(self, micro: dict, batch_tokens: int, batch_sequences: int) -> dict[str, float]:
        batch = micro["batch"]
        logprobs, entropy = token_logprobs(
            self.forward(batch, micro["prefix"]),
            batch.targets,
            self.temperature,
            entropy_grad=bool(self.loss_config.entropy_coeff),
        )
        advantages = micro["advantages"][:, None].expand_as(logprobs)
        loss, metrics = actor_loss(
            self.loss_config,
            logprobs,
            micro["old"],
            advantages,
            batch.response_mask,
            batch_tokens,
            batch_sequences,
            ref_log_prob=micro["ref"],
            entropy=entropy,
        )
        loss.backward()
        return metrics
