"""One env episode driven by an async generate call: the engine-independent core of our verl agent loop.

Each turn renders the prompt (task, history window, current observation, admissible actions), asks
the inference server once, parses the action and steps the env. Every step becomes one verl output
whose `extra_fields` carry GiGPO's keys and the weight version (`min/max_global_steps`) its response was
generated with, which verl's trainer reads from every output; the last one also carries the episode reward.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agents.parsing import parse_action
from agents.prompts import PromptTemplate
from agents.rollout import anchor_hash

# prompt ids -> (response ids, their logprobs or None, the server's weight version: {"min_global_steps": ..,
# "max_global_steps": ..}, as verl's `TokenOutput.extra_fields` carries it)
Generate = Callable[[list[int]], Awaitable[tuple[list[int], list[float] | None, dict[str, Any]]]]
WEIGHT_VERSION_KEYS = ("min_global_steps", "max_global_steps")


@dataclass
class EpisodeStep:
    """One (turn, action) of the episode, with GiGPO's grouping keys."""

    prompt_ids: list[int]
    response_ids: list[int]
    response_logprobs: list[float] | None
    step_idx: int
    anchor: str
    step_reward: float
    valid: bool
    weight_version: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """All steps of one env episode and its outcome."""

    steps: list[EpisodeStep] = field(default_factory=list)
    episode_return: float = 0.0
    won: bool = False


def env_seed(uid: str) -> int:
    """The env seed of a prompt row: a hash of its uid, so the `rollout.n` sessions of one row (an env
    group) start from the same state while rows differ."""
    return int.from_bytes(hashlib.blake2b(str(uid).encode(), digest_size=4).digest(), "big") % (2**31 - 1)


async def run_episode(
    env: Any,
    seed: int,
    template: PromptTemplate,
    encode: Callable[[str], list[int]],
    decode: Callable[[list[int]], str],
    generate: Generate,
    max_steps: int,
) -> Episode:
    """Play one episode of `env` from `seed`; one generate call per turn."""
    observation, info = env.reset(seed=seed)
    history: list[tuple[str, str]] = []
    episode = Episode()
    for step_idx in range(max_steps):
        prompt = template.render(info["task"], observation, info["admissible_actions"], history, info)
        prompt_ids = encode(prompt)
        response_ids, logprobs, version = await generate(prompt_ids)
        action, valid = parse_action(decode(response_ids))
        anchor = anchor_hash(str(info["anchor"]))
        next_observation, reward, terminated, truncated, info = env.step(action)
        episode.steps.append(
            EpisodeStep(
                prompt_ids,
                list(response_ids),
                logprobs,
                step_idx,
                anchor,
                float(reward),
                valid,
                {key: version.get(key) for key in WEIGHT_VERSION_KEYS},
            )
        )
        episode.episode_return += float(reward)
        history.append((observation, action))
        observation = next_observation
        if terminated or truncated:
            break
    episode.won = bool(info.get("won", False))
    return episode


def episode_outputs(episode: Episode) -> list[dict[str, Any]]:
    """verl `AgentLoopOutput` fields per step: ids, mask, logprobs and GiGPO keys in `extra_fields`;
    the last step carries the episode return as `reward_score` (verl copies it to the earlier steps)."""
    outputs = []
    for step in episode.steps:
        outputs.append(
            {
                "prompt_ids": step.prompt_ids,
                "response_ids": step.response_ids,
                "response_mask": [1] * len(step.response_ids),
                "response_logprobs": step.response_logprobs,
                "num_turns": 2,
                "metrics": {},
                "extra_fields": {
                    "anchor": step.anchor,
                    "step_idx": step.step_idx,
                    "step_reward": step.step_reward,
                    "valid": step.valid,
                    **step.weight_version,
                },
            }
        )
    outputs[-1]["reward_score"] = episode.episode_return
    outputs[-1]["extra_fields"]["reward_extra_info"] = {
        "won": float(episode.won),
        "episode_length": float(len(episode.steps)),
    }
    return outputs
