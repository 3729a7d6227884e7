"""Math and code rewards behind verl's `compute_score` interface (pure Python at import: no torch).

A task's score is part of the task, so the rewards live beside the envs; users import them as
`layerverl.rewards` (a re-export), and both names are the same objects.

    from layerverl.rewards import compute_score
    compute_score("math", "... so \\boxed{1/2}", "0.5")   # {"score": 1.0, "acc": 1.0, "pred": "1/2", ...}

Rewards are chosen by `data_source` through a registry (`register_reward`), installed entry points
(group `layerverl.rewards`), or "pkg.mod:fn" / "path/file.py:fn" references (`get_reward`, `make_router`).
"""

from envs.rewards.code_reward import CODE_KEYS, compute_code_score, extract_code
from envs.rewards.math_reward import MATH_KEYS, compute_math_score, extract_answer
from envs.rewards.registry import (
    ENTRY_POINT_GROUP,
    REWARD_REGISTRY,
    RewardFn,
    RewardOutput,
    compute_score,
    compute_score_batch,
    get_reward,
    list_rewards,
    make_router,
    register_reward,
)
from envs.rewards.sandbox import SandboxLimits, SandboxUnavailableError, isolation_record, sandbox_kind
from envs.rewards.trl import from_trl, to_trl

MATH_DATA_SOURCES = (
    "math",
    "gsm8k",
    "openai/gsm8k",
    "lighteval/MATH",
    "DigitalLearningGmbH/MATH-lighteval",
    "HuggingFaceH4/MATH-500",
    "math500",
    "math_dapo",
    "aime",
    "layerverl/math",
)
CODE_DATA_SOURCES = (
    "code",
    "humaneval",
    "openai_humaneval",
    "openai/openai_humaneval",
    "evalplus/humanevalplus",
    "mbpp",
    "google-research-datasets/mbpp",
    "apps",
    "codeparrot/apps",
    "codecontests",
    "taco",
    "codeforces",
    "livecodebench",
)

register_reward(MATH_DATA_SOURCES[0], compute_math_score, aliases=MATH_DATA_SOURCES[1:])
register_reward(CODE_DATA_SOURCES[0], compute_code_score, aliases=CODE_DATA_SOURCES[1:])

__all__ = [
    "CODE_DATA_SOURCES",
    "CODE_KEYS",
    "ENTRY_POINT_GROUP",
    "MATH_DATA_SOURCES",
    "MATH_KEYS",
    "REWARD_REGISTRY",
    "RewardFn",
    "RewardOutput",
    "SandboxLimits",
    "SandboxUnavailableError",
    "compute_code_score",
    "compute_math_score",
    "compute_score",
    "compute_score_batch",
    "extract_answer",
    "extract_code",
    "from_trl",
    "get_reward",
    "isolation_record",
    "list_rewards",
    "make_router",
    "register_reward",
    "sandbox_kind",
    "to_trl",
]
