"""The update phase: step samples -> padded token batches -> log-probs -> PPO epochs over the trained layers.

When the lowest trained layer is k > 0 and the embeddings are frozen, the hidden states entering layer k
never change during training, so they are computed once per sample (`agents.prefix`) or taken from
the rollout, which recorded them while generating; every epoch then runs only layers k..L-1, the final
norm and the head. Batches pack the samples of one prompt into one row (the prompt once, then each
response, attending to the prompt and itself), so a group's prompt is encoded once, and the responses end
every row, so the last layer past its keys and values (`agents.kept_columns`) runs only on the response
columns, and the head only on the real response tokens (applied to the decoder's hidden states as a plain
linear map, as Qwen2/Qwen3/Llama heads are).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.kept_columns import last_layer_keeps
from agents.prefix import hidden_before_layer, hidden_from_layer
from layerverl.losses import LossConfig, actor_loss


@dataclass
class TokenBatch:
    """Samples packed by prompt: one row per distinct prompt, the prompt once and then every response to it,
    each response attending to the prompt and to itself only, its positions continuing the prompt's. A
    group's shared prompt is so encoded once, not once per sample. Rows are left-padded, so the responses
    end every row and every prediction of a response token comes from the last `keep` columns."""

    input_ids: torch.Tensor  # (rows, width)
    attention_mask: torch.Tensor  # (rows, 1, width, width) bool: which columns each column attends to
    position_ids: torch.Tensor  # (rows, width)
    targets: torch.Tensor  # (samples, response_width): each sample's response tokens, right-padded
    response_mask: torch.Tensor  # (samples, response_width): 1 on real response tokens
    keep: int
    logit_index: tuple[torch.Tensor, torch.Tensor]  # (samples, response_width) each: row, kept column
    spans: list[tuple[int, int, int, int, int]]  # per sample: row, its prompt's start and end, its response's

    def sample_columns(self, sample: int) -> tuple[int, torch.Tensor]:
        """The row and columns a sample's model inputs sit in: its prompt, then its response but the last."""
        row, prompt_start, prompt_end, response_start, response_end = self.spans[sample]
        columns = torch.cat(
            [torch.arange(prompt_start, prompt_end), torch.arange(response_start, response_end - 1)]
        )
        return row, columns


def token_batch(prompts: list[list[int]], responses: list[list[int]], pad_id: int) -> TokenBatch:
    """Pack (prompt, response) pairs, samples with the same prompt into one row (see `TokenBatch`)."""
    packs: dict[tuple[int, ...], list[int]] = {}
    for i, prompt in enumerate(prompts):
        packs.setdefault(tuple(prompt), []).append(i)
    lengths = [len(p) + sum(len(responses[i]) for i in members) for p, members in packs.items()]
    width, response_width = max(lengths), max(len(r) for r in responses)
    keep = max(length - len(p) + 1 for length, p in zip(lengths, packs, strict=True))
    input_ids = torch.full((len(packs), width), pad_id, dtype=torch.long)
    position_ids = torch.zeros_like(input_ids)
    attends = torch.eye(width, dtype=torch.bool).repeat(len(packs), 1, 1)  # padding sees itself: no empty row
    targets = torch.full((len(prompts), response_width), pad_id, dtype=torch.long)
    response_mask = torch.zeros((len(prompts), response_width), dtype=torch.float32)
    logit_rows, logit_columns = torch.zeros_like(targets), torch.zeros_like(targets)
    spans: list[tuple[int, int, int, int, int]] = [(0, 0, 0, 0, 0)] * len(prompts)
    for row, ((prompt, members), length) in enumerate(zip(packs.items(), lengths, strict=True)):
        start = width - length
        end = column = start + len(prompt)
        input_ids[row, start:end] = torch.tensor(prompt, dtype=torch.long)
        position_ids[row, start:end] = torch.arange(len(prompt))
        attends[row, start:end, start:end] = torch.ones(len(prompt), len(prompt), dtype=torch.bool).tril()
        for i in members:
            response, stop = responses[i], column + len(responses[i])
            input_ids[row, column:stop] = torch.tensor(response, dtype=torch.long)
            position_ids[row, column:stop] = torch.arange(len(prompt), len(prompt) + len(response))
            attends[row, column:stop, start:end] = True
            attends[row, column:stop, column:stop] = torch.ones(
                len(response), len(response), dtype=torch.bool
            ).tril()
            targets[i, : len(response)] = torch.tensor(response, dtype=torch.long)
            response_mask[i, : len(response)] = 1.0
            # token 0 is predicted by the prompt's last column, token t by the response's token t - 1
            predicted_by = torch.tensor([end - 1, *range(column, stop - 1)][: len(response)])
            logit_rows[i, : len(response)] = row
            logit_columns[i, : len(response)] = predicted_by - (width - keep)
            spans[i] = (row, start, end, column, stop)
            column = stop
    return TokenBatch(
        input_ids,
        attends[:, None],
        position_ids,
        targets,
        response_mask,
        keep,
        (logit_rows, logit_columns),
        spans,
    )


def model_mask(model: nn.Module, attends: torch.Tensor) -> torch.Tensor:
    """The 4D mask as the model's attention takes it: boolean for sdpa, additive for eager."""
    if getattr(model.config, "_attn_implementation", None) != "eager":
        return attends
    dtype = next(model.parameters()).dtype
    return torch.zeros(attends.shape, dtype=dtype).masked_fill(~attends, torch.finfo(dtype).min)


def batch_layer_inputs(model: nn.Module, layer: int, batch: TokenBatch) -> torch.Tensor:
    """The hidden states entering `layer` for the packed batch (rows, width, hidden), without gradients."""
    return hidden_before_layer(
        model,
        layer,
        input_ids=batch.input_ids,
        attention_mask=model_mask(model, batch.attention_mask),
        position_ids=batch.position_ids,
    )


def response_logprobs(
    model: nn.Module,
    batch: TokenBatch,
    temperature: float,
    start_layer: int | None = None,
    prefix: torch.Tensor | None = None,
    entropy_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs of each sample's response tokens and the entropy there, both (samples, response_width),
    0 on padding. The last layer's queries, attention and MLP run on the kept columns only, and the head on
    the real response tokens only: the head is an update's largest single cost (on SmolLM2 a 49k x 576
    matmul per token, about eight decoder layers' worth), and picking its inputs rather than its outputs
    spares both the padding's logits and a scatter of a (tokens, vocab) gradient in the backward pass.
    With `prefix` (the hidden states entering `start_layer`), only layers from there up run."""
    mask = model_mask(model, batch.attention_mask)
    with last_layer_keeps(model, batch.keep):
        if prefix is None:
            hidden = model.get_decoder()(
                input_ids=batch.input_ids,
                attention_mask=mask,
                position_ids=batch.position_ids,
                use_cache=False,
            ).last_hidden_state
        else:
            hidden = hidden_from_layer(model, start_layer, prefix, mask, batch.position_ids)
    real = batch.response_mask.bool()
    rows, columns = batch.logit_index
    kept = hidden[:, hidden.shape[1] - batch.keep :]
    logits = model.get_output_embeddings()(kept[rows[real], columns[real]])
    chosen, entropy = token_logprobs(logits, batch.targets[real], temperature, entropy_grad)
    return _padded(chosen, real), _padded(entropy, real)


def _padded(values: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Per-token values of the real positions back into the (samples, response_width) layout, 0 elsewhere."""
    return values.new_zeros(real.shape).masked_scatter(real, values)


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

    def logprobs(
        self, batch: TokenBatch, prefix: torch.Tensor | None, entropy_grad: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Response log-probs and entropy of the batch, from the cached prefix hidden states when there are
        some."""
        return response_logprobs(self.model, batch, self.temperature, self.start_layer, prefix, entropy_grad)

    def prefix(self, batch: TokenBatch, captured: list[torch.Tensor] | None) -> torch.Tensor | None:
        """The frozen prefix's output for this batch (computed once, reused by every epoch); `captured`
        holds each row's hidden states as the rollout recorded them, right-padded here like the batch."""
        if self.start_layer is None:
            return None
        if captured is not None:
            prefix = captured[0].new_zeros((*batch.input_ids.shape, captured[0].shape[-1]))
            # a response's last token never ran: its column stays 0
            for sample, hidden in enumerate(captured):
                row, columns = batch.sample_columns(sample)
                prefix[row, columns] = hidden
            return prefix
        return batch_layer_inputs(self.model, self.start_layer, batch)

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
                m["ref"] = self.logprobs(m["batch"], m["prefix"])[0]
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
        micro = self.micro_batches(prompts, responses, old_logprobs, advantages, hidden)
        return self.run_epochs(micro, epochs, mini_batches, rng)

    def run_epochs(
        self, micro: list[dict], epochs: int, mini_batches: int, rng: np.random.Generator
    ) -> dict[str, float]:
        """The optimizer's part of `update`, over micro-batches `micro_batches` built (what a FLOP count of
        the update alone times)."""
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

    def micro_batches(self, prompts, responses, old_logprobs, advantages, hidden) -> list[dict]:
        """Micro-batches sorted by prompt length (the padding's main driver) and then by prompt (a group
        packs into one row), with their prefix cache, old and reference log-probs."""
        order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), prompts[i]))
        micro = []
        for start in range(0, len(order), self.micro_batch_size):
            rows = order[start : start + self.micro_batch_size]
            batch = token_batch([prompts[i] for i in rows], [responses[i] for i in rows], self.pad_id)
            with torch.no_grad():
                prefix = self.prefix(batch, [hidden[i] for i in rows] if hidden is not None else None)
                if old_logprobs is None:
                    old = self.logprobs(batch, prefix)[0]
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
        logprobs, entropy = self.logprobs(batch, micro["prefix"], bool(self.loss_config.entropy_coeff))
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
