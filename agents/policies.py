"""Policies the rollout can run: a language model through a backend, and the expert/random baselines.

Every policy answers a batch of `ActRequest`s with text responses in the <action></action> format, so
baselines and models go through the same parsing, env stepping and evaluation path.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from agents.backends import GenerationBackend, Response
from agents.prompts import encode_prompt


@dataclass
class ActRequest:
    """One env's turn: the rendered prompt, its admissible actions and (for the expert) the expert's action."""

    prompt: str
    admissible_actions: list[str]
    expert_action: str | None = None


class LMPolicy:
    """A causal LM: chat-templated prompt -> one batched generate call per turn.

    Prompts longer than `max_prompt_tokens` keep their last tokens (the current observation and the
    instruction live at the end). Each call uses seed `seed + call index`, so a run is reproducible.
    With `capture_layer`, each response carries the hidden states that entered that decoder layer, which
    the update reuses instead of running the frozen layers below it again.
    """

    uses_expert = False

    def __init__(
        self,
        backend: GenerationBackend,
        tokenizer,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 16,
        max_prompt_tokens: int = 2048,
        seed: int = 0,
        capture_layer: int | None = None,
    ):
        self.backend = backend
        self.tokenizer = tokenizer
        self.temperature = temperature
        self.top_p = top_p
        self.max_new_tokens = max_new_tokens
        self.max_prompt_tokens = max_prompt_tokens
        self.seed = seed
        self.capture_layer = capture_layer
        self.calls = 0

    def encode(self, prompt: str) -> list[int]:
        """Token ids of the chat-templated user message, ready for generation."""
        return encode_prompt(self.tokenizer, prompt, self.max_prompt_tokens)

    def act(self, requests: list[ActRequest]) -> list[Response]:
        prompt_ids = [self.encode(r.prompt) for r in requests]
        responses = self.backend.generate(
            prompt_ids,
            self.max_new_tokens,
            self.temperature,
            self.top_p,
            self.seed + self.calls,
            self.capture_layer,
        )
        self.calls += 1
        return responses


class ExpertPolicy:
    """The env's own expert (`env.unwrapped.expert_action()`), answered in the action format."""

    uses_expert = True

    def act(self, requests: list[ActRequest]) -> list[Response]:
        return [Response(f"<action>{r.expert_action}</action>") for r in requests]


class RandomPolicy:
    """A uniformly random admissible action each turn (seeded)."""

    uses_expert = False

    def __init__(self, seed: int = 0):
        self.rng = random.Random(seed)

    def act(self, requests: list[ActRequest]) -> list[Response]:
        return [
            Response(f"<action>{self.rng.choice(r.admissible_actions or [''])}</action>") for r in requests
        ]
