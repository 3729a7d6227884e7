"""Multi-turn rollout: G groups x N envs, one batched policy call per turn, one step sample per env step.

The N envs of a group are reset with the same seed, so they start from the same state (GRPO/GiGPO
groups). Each turn renders a prompt per active env (task, last `history_length` observation/action
pairs, current observation, admissible actions), asks the policy once for all of them, parses the
actions and steps the envs, until every env is done or `max_steps` turns have passed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agents.parsing import parse_action
from agents.policies import ActRequest
from agents.prompts import PromptTemplate
from agents.step_batch import StepBatch
from envs.batch import EnvBatch

if TYPE_CHECKING:
    import torch


@dataclass
class StepSample:
    """One (env, turn): what the trainer needs (ids, logprobs, group keys, reward) plus the texts."""

    prompt_ids: list[int]
    response_ids: list[int]
    response_logprobs: list[float]
    group_id: int
    traj_id: int
    step_idx: int
    anchor: str  # hash of the raw observation the action was taken in (GiGPO's step-group key)
    step_reward: float
    valid: bool
    done: bool  # the episode ended at this step: won, lost, or cut at max_steps
    prompt: str = ""
    response: str = ""
    action: str = ""
    hidden: torch.Tensor | None = (
        None  # the captured inputs of the lowest trained layer (LMPolicy.capture_layer)
    )


@dataclass
class Trajectory:
    """Per-episode summary of one env of one group."""

    group_id: int
    traj_id: int
    seed: int
    episode_return: float = 0.0
    won: bool = False
    length: int = 0
    valid_ratio: float = 0.0
    task_type: str | None = None
    score: float | None = None
    answer: str | None = None  # a single-turn task's final answer as its reward extracted it
    response: str | None = None  # the text of the episode's last response


@dataclass
class Rollout:
    """Step samples in (turn, env) order plus one `Trajectory` per env, indexed by `traj_id`."""

    steps: list[StepSample] = field(default_factory=list)
    trajectories: list[Trajectory] = field(default_factory=list)

    def step_batch(self) -> StepBatch:
        """The step samples as the advantage estimators read them (each step gets its episode's return)."""
        returns = {t.traj_id: t.episode_return for t in self.trajectories}
        return StepBatch(
            episode_return=[returns[s.traj_id] for s in self.steps],
            step_reward=[s.step_reward for s in self.steps],
            group_id=[s.group_id for s in self.steps],
            traj_id=[s.traj_id for s in self.steps],
            step_idx=[s.step_idx for s in self.steps],
            anchor=[s.anchor for s in self.steps],
            valid=[s.valid for s in self.steps],
        )

    def metrics(self) -> dict[str, float]:
        """Success rate, mean return/length and valid-action ratio over the rollout."""
        n = max(len(self.trajectories), 1)
        return {
            "success_rate": sum(t.won for t in self.trajectories) / n,
            "episode_return": sum(t.episode_return for t in self.trajectories) / n,
            "episode_length": sum(t.length for t in self.trajectories) / n,
            "valid_ratio": sum(s.valid for s in self.steps) / max(len(self.steps), 1),
            "step_samples": float(len(self.steps)),
        }


def anchor_hash(text: str) -> str:
    """A short stable hash of an anchor observation (any string, lone surrogates included)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def collect_rollout(
    envs: EnvBatch,
    policy: Any,
    template: PromptTemplate,
    seeds: Sequence[int],
    group_size: int,
    max_steps: int = 50,
    check_admissible: bool = False,
) -> Rollout:
    """Run `len(seeds)` groups of `group_size` envs (group g reset with `seeds[g]`) to the end.

    `policy` has `act(list[ActRequest]) -> list[Response]` and `uses_expert`; `envs.num_envs` must be
    `len(seeds) * group_size`. With `check_admissible`, an action outside the admissible list is invalid.
    """
    num_envs = len(seeds) * group_size
    if envs.num_envs != num_envs:
        raise ValueError(
            f"{len(seeds)} groups x {group_size} envs need {num_envs} envs, the batch has {envs.num_envs}"
        )
    group_of = [i // group_size for i in range(num_envs)]
    observations, infos = map(list, zip(*envs.reset([seeds[g] for g in group_of]), strict=True))
    histories: list[list[tuple[str, str]]] = [[] for _ in range(num_envs)]
    trajectories = [Trajectory(group_of[i], i, seeds[group_of[i]]) for i in range(num_envs)]
    valid_counts = [0] * num_envs
    rollout = Rollout(trajectories=trajectories)
    active = list(range(num_envs))
    for step_idx in range(max_steps):
        if not active:
            break
        experts = envs.call("expert_action", active) if policy.uses_expert else {}
        requests = [
            ActRequest(
                template.render(
                    infos[i]["task"], observations[i], infos[i]["admissible_actions"], histories[i], infos[i]
                ),
                infos[i]["admissible_actions"],
                experts.get(i),
            )
            for i in active
        ]
        responses = policy.act(requests)
        parsed = [  # a free-form env (math, code) takes the whole response: no <action> tag, newlines kept
            (r.text, True)
            if infos[i].get("free_form")
            else parse_action(r.text, req.admissible_actions if check_admissible else None)
            for i, r, req in zip(active, responses, requests, strict=True)
        ]
        results = envs.step({i: action for i, (action, _) in zip(active, parsed, strict=True)})
        still_active = []
        for i, request, response, (action, valid) in zip(active, requests, responses, parsed, strict=True):
            result = results[i]
            done = result.done or step_idx + 1 == max_steps
            rollout.steps.append(
                StepSample(
                    prompt_ids=response.prompt_ids,
                    response_ids=response.response_ids,
                    response_logprobs=response.response_logprobs,
                    group_id=group_of[i],
                    traj_id=i,
                    step_idx=step_idx,
                    anchor=anchor_hash(str(infos[i]["anchor"])),
                    step_reward=result.reward,
                    valid=valid,
                    done=done,
                    prompt=request.prompt,
                    response=response.text,
                    action=action,
                    hidden=response.hidden,
                )
            )
            histories[i].append((observations[i], action))
            observations[i], infos[i] = result.observation, result.info
            trajectory = trajectories[i]
            trajectory.episode_return += result.reward
            trajectory.length += 1
            trajectory.response = response.text
            valid_counts[i] += valid
            if not done:
                still_active.append(i)
        active = still_active
    for i, trajectory in enumerate(trajectories):
        trajectory.won = bool(infos[i].get("won", False))
        trajectory.valid_ratio = valid_counts[i] / max(trajectory.length, 1)
        trajectory.task_type = infos[i].get("task_type")
        score = infos[i].get("score")
        trajectory.score = float(score) if isinstance(score, (int, float)) else None
        trajectory.answer = infos[i].get("answer")
    return rollout
