"""layerverl agents: prompts, action parsing, policies and generation backends, rollouts, evaluation.

The names below load on first use (PEP 562), so `import agents` or `from agents import parse_action`
does not pay for torch; `from agents import HFBackend` does.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "EvalResult": "agents.evaluation",
    "ExpertPolicy": "agents.policies",
    "HFBackend": "agents.backends",
    "LMPolicy": "agents.policies",
    "PromptTemplate": "agents.prompts",
    "RandomPolicy": "agents.policies",
    "Response": "agents.backends",
    "Rollout": "agents.rollout",
    "StepBatch": "agents.step_batch",
    "StepSample": "agents.rollout",
    "Trajectory": "agents.rollout",
    "VLLMBackend": "agents.backends",
    "collect_rollout": "agents.rollout",
    "evaluate": "agents.evaluation",
    "load_template": "agents.prompts",
    "parse_action": "agents.parsing",
    "paired_change": "agents.evaluation",
    "wilson_interval": "agents.evaluation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the module that holds `name` the first time someone asks for it."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
