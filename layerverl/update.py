"""The update phase: step samples -> padded token batches -> log-probs -> PPO epochs over the trained layers.

When the lowest trained layer is k > 0 and the embeddings are frozen, the hidden states entering layer k
never change during training, so they are computed once per sample (`layerverl.prefix`) and every epoch
runs only layers k..L-1, the final norm and the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from layerverl.losses import LossConfig, actor_loss
from layerverl.prefix import forward_from_layer, hidden_before_layer


@dataclass
class TokenBatch:
    """Right-padded prompt+response sequences of some samples, (bs, seq), with the response positions."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    response_mask: torch.Tensor  # 1 where the token at t+1 is a response token: logits[:, t] predict it
    targets: torch.Tensor  # input_ids shifted left by one


def token_batch(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> TokenBatch:
    """Pack (prompt, response) pairs into one right-padded batch."""
    lengths = [len(p) + len(r) for p, r in zip(prompts, responses, strict=True)]
    width = max(lengths)
    input_ids = torch.full((len(lengths), width), pad_id, dtype=torch.long)
    response_mask = torch.zeros((len(lengths), width), dtype=torch.float32)
    for row, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        input_ids[row, : lengths[row]] = torch.tensor(prompt + response, dtype=torch.long)
        response_mask[row, len(prompt) - 1 : lengths[row] - 1] = 1.0
    attention_mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    position_ids = torch.arange(width).expand(len(lengths), width)
    targets = torch.cat([input_ids[:, 1:], torch.full_like(input_ids[:, :1], pad_id)], dim=1)
    return TokenBatch(input_ids, attention_mask, position_ids, response_mask, targets)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of `targets` under logits / temperature, and the entropy, both (bs, seq)."""
    log_probs = torch.log_softmax(logits.float() / max(temperature, 1e-6), dim=-1)
    chosen = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
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
        """Logits of the batch, from the cached prefix hidden states when there are some."""
        if prefix is None:
            return self.model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                position_ids=batch.position_ids, use_cache=False,
            ).logits
        return forward_from_layer(self.model, self.start_layer, prefix, batch.attention_mask, batch.position_ids)

    def prefix(self, batch: TokenBatch) -> torch.Tensor | None:
        """The frozen prefix's output for this batch (computed once, reused by every epoch)."""
        if self.start_layer is None:
            return None
        return hidden_before_layer(
            self.model, self.start_layer, input_ids=batch.input_ids,
            attention_mask=batch.attention_mask, position_ids=batch.position_ids,
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
                m["ref"] = token_logprobs(self.forward(m["batch"], m["prefix"]), m["batch"].targets, self.temperature)[0]
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
    ) -> dict[str, float]:
        """PPO epochs over the samples; returns mean loss metrics and the last grad norm."""
        micro = self._micro_batches(prompts, responses, old_logprobs, advantages)
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

    def _micro_batches(self, prompts, responses, old_logprobs, advantages) -> list[dict]:
        """Length-sorted micro-batches with their prefix cache, old and reference log-probs."""
        order = np.argsort([len(p) + len(r) for p, r in zip(prompts, responses, strict=True)], kind="stable")
        micro = []
        for start in range(0, len(order), self.micro_batch_size):
            rows = order[start : start + self.micro_batch_size]
            batch = token_batch([prompts[i] for i in rows], [responses[i] for i in rows], self.pad_id)
            with torch.no_grad():
                prefix = self.prefix(batch)
                if old_logprobs is None:
                    old = token_logprobs(self.forward(batch, prefix), batch.targets, self.temperature)[0]
                else:  # the rollout's own log-probs, placed at the response positions
                    old = torch.zeros_like(batch.response_mask)
                    for row, i in enumerate(rows):
                        start_pos = len(prompts[i]) - 1
                        old[row, start_pos : start_pos + len(old_logprobs[i])] = torch.tensor(old_logprobs[i])
            micro.append({"batch": batch, "prefix": prefix, "old": old, "ref": None,
                          "advantages": torch.tensor(advantages[rows], dtype=torch.float32)})
        if self.ref_state is not None:
            self.add_ref_logprobs(micro)
        return micro

    def _backward(self, micro: dict, batch_tokens: int, batch_sequences: int) -> dict[str, float]:
        batch = micro["batch"]
        logprobs, entropy = token_logprobs(self.forward(batch, micro["prefix"]), batch.targets, self.temperature)
        advantages = micro["advantages"][:, None].expand_as(logprobs)
        loss, metrics = actor_loss(
            self.loss_config, logprobs, micro["old"], advantages, batch.response_mask,
            batch_tokens, batch_sequences, ref_log_prob=micro["ref"], entropy=entropy,
        )
        loss.backward()
        return metrics
