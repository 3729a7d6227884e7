"""Adapters between our `compute_score` signature and TRL's reward functions.

TRL calls `reward_func(prompts=..., completions=..., completion_ids=..., **columns)` and expects one
`float | None` per completion (None: "does not apply"); every dataset column arrives as a list. TRL itself
is not needed to use either adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envs.rewards.registry import RewardFn, compute_score

TrlRewardFn = Callable[..., list[float | None]]


def to_trl(
    fn: RewardFn = compute_score, *, data_source: str | None = None, ground_truth_key: str = "ground_truth"
) -> TrlRewardFn:
    """Wrap a verl-style scorer as a TRL reward function.

    Per completion i it calls `fn(data_source_i, text_i, ground_truth_i, extra_info_i)`, where
    `data_source_i` is `data_source` or the `data_source` column, `text_i` the completion (or the last
    message's content in conversational format). Dict results give their "score"; their other keys go
    to TRL's `log_extra(column, values)` when TRL passes it.
    """

    def reward_func(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float | None]:
        n = len(completions)
        if ground_truth_key not in kwargs:
            raise ValueError(
                f"TRL reward needs the dataset column {ground_truth_key!r}; got {sorted(kwargs)}"
            )
        sources = [data_source] * n if data_source is not None else kwargs.get("data_source")
        if sources is None:
            raise ValueError("TRL reward needs data_source= or a 'data_source' dataset column")
        extra_infos = kwargs.get("extra_info") or [None] * n
        scores: list[float | None] = []
        extras: dict[str, list[Any]] = {}
        for i, completion in enumerate(completions):
            text = completion[-1]["content"] if isinstance(completion, list) else completion
            out = fn(sources[i], text, kwargs[ground_truth_key][i], extra_infos[i])
            if isinstance(out, dict):
                scores.append(None if out["score"] is None else float(out["score"]))
                for key, value in out.items():
                    if key != "score":
                        extras.setdefault(key, [None] * n)[i] = value
            else:
                scores.append(None if out is None else float(out))
        log_extra = kwargs.get("log_extra")
        if log_extra is not None:
            for key, values in extras.items():
                log_extra(key, values)
        return scores

    reward_func.__name__ = getattr(fn, "__name__", "layerverl_reward")  # TRL logs rewards by function name
    return reward_func


def from_trl(trl_fn: TrlRewardFn, *, ground_truth_key: str = "solution") -> RewardFn:
    """Wrap a TRL reward function as a verl-style scorer.

    The sample becomes a batch of one: `completions=[solution_str]`, `prompts=[extra_info["prompt"]]`
    (or [""]), `ground_truth` as the `ground_truth_key` column, other `extra_info` entries as columns.
    None ("does not apply") scores 0.0.
    """

    def compute_score_from_trl(
        data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any
    ) -> float:
        columns = {key: [value] for key, value in (extra_info or {}).items() if key != "prompt"}
        columns[ground_truth_key] = [ground_truth]
        columns.setdefault("data_source", [data_source])
        prompt = (extra_info or {}).get("prompt", "")
        scores = trl_fn(prompts=[prompt], completions=[solution_str], **columns, **kwargs)
        return 0.0 if scores[0] is None else float(scores[0])

    compute_score_from_trl.__name__ = getattr(trl_fn, "__name__", "trl_reward")
    return compute_score_from_trl
