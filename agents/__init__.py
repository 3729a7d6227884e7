"""layerverl agents: prompts, action parsing, policies and generation backends, rollouts, evaluation."""

from agents.backends import HFBackend, VLLMBackend
from agents.evaluation import EvalResult, evaluate, paired_change, wilson_interval
from agents.parsing import parse_action
from agents.policies import ExpertPolicy, LMPolicy, RandomPolicy
from agents.prompts import PromptTemplate, load_template
from agents.rollout import Rollout, StepSample, Trajectory, collect_rollout

__all__ = [
    "EvalResult",
    "ExpertPolicy",
    "HFBackend",
    "LMPolicy",
    "PromptTemplate",
    "RandomPolicy",
    "Rollout",
    "StepSample",
    "Trajectory",
    "VLLMBackend",
    "collect_rollout",
    "evaluate",
    "load_template",
    "parse_action",
    "paired_change",
    "wilson_interval",
]
