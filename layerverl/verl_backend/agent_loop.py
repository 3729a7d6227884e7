"""Our environments as a verl agent loop (`agent_name: layerverl_env`): one verl output per env step.

verl runs `rollout.n` sessions of each dataset row; all of them seed their env from the row's `uid`
(not the per-session id), so an env group shares its initial state. Evaluation rows carry a fixed seed.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

import envs
from agents.prompts import encode_prompt, load_template
from layerverl.verl_backend.config import AGENT_NAME
from layerverl.verl_backend.episode import env_seed, episode_outputs, run_episode


@register(AGENT_NAME)
class EnvAgentLoop(AgentLoopBase):
    """Play one episode of the row's env against the rollout server; return one output per step."""

    def __init__(self, *args, hf_model_type: str | None = None, **kwargs):
        # verl picks a chat-boundary token builder by model_type (Qwen's requires "\n" to be one token,
        # which the tiny policy's word-level tokenizer lacks); this loop encodes its prompts itself
        # (`encode_prompt`, as the local policy), so verl's default builder is the honest choice
        super().__init__(*args, hf_model_type=None, **kwargs)

    async def run(self, sampling_params: dict[str, Any], **kwargs) -> list[AgentLoopOutput]:
        row = kwargs["extra_info"]
        loop = json.loads(row["loop"])
        seed = row["eval_seed"] if row.get("eval_seed") is not None else env_seed(kwargs["uid"])
        template = load_template(row["env"], loop["prompt_variant"], loop["history_length"])
        env = envs.make(row["env"], **json.loads(row["env_kwargs"]))
        try:
            episode = await run_episode(
                env,
                int(seed),
                template,
                self._encode,
                self._decode,
                lambda ids: self._generate(ids, sampling_params),
                loop["max_steps"],
            )
        finally:
            env.close()
        return [AgentLoopOutput(**fields) for fields in episode_outputs(episode)]

    def _encode(self, prompt: str) -> list[int]:
        """The chat-templated user message, keeping its last `prompt_length` tokens like the local policy."""
        return encode_prompt(
            self.tokenizer, prompt, self.rollout_config.prompt_length, **self.apply_chat_template_kwargs
        )

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    async def _generate(self, prompt_ids: list[int], sampling_params: dict[str, Any]):
        output = await self.server_manager.generate(
            request_id=uuid4().hex, prompt_ids=prompt_ids, sampling_params=sampling_params
        )
        ids = list(output.token_ids[: self.rollout_config.response_length])
        logprobs = list(output.log_probs[: len(ids)]) if output.log_probs else None
        return ids, logprobs, dict(output.extra_fields or {})  # min/max_global_steps: the weight version
