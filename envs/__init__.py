"""layerverl environments: Gymnasium text environments for agentic RL (no torch anywhere in this package)."""

from envs.base import NOTHING_HAPPENS, TextEnv, text_space
from envs.registry import list_envs, make, register_env

__all__ = ["NOTHING_HAPPENS", "TextEnv", "list_envs", "make", "register_env", "text_space"]

register_env("alfworld", "envs.alfworld:ALFWorldEnv", gym_id="layerverl/ALFWorld-v0")
