"""layerverl environments: Gymnasium text environments for agentic RL (no torch anywhere in this package)."""

from envs.base import NOTHING_HAPPENS, TextEnv, text_space
from envs.registry import list_envs, make, register_env
from envs.textarena_env import TEXTARENA_OFFLINE_GAMES  # a tuple of ids; textarena itself loads lazily

__all__ = ["NOTHING_HAPPENS", "TextEnv", "list_envs", "make", "register_env", "text_space"]

register_env("alfworld", "envs.alfworld.env:ALFWorldEnv", gym_id="layerverl/ALFWorld-v0")
register_env("alfworld_real", "envs.alfworld.real:RealALFWorldEnv", gym_id="layerverl/ALFWorldReal-v0")
register_env("webshop", "envs.webshop.env:WebShopEnv", gym_id="layerverl/WebShop-v0")
register_env("math", "envs.math_task:MathTaskEnv", gym_id="layerverl/Math-v0")
register_env("code", "envs.code_task:CodeTaskEnv", gym_id="layerverl/Code-v0")
register_env("textarena", "envs.textarena_env:TextArenaEnv", gym_id="layerverl/TextArena-v0")
for (
    _game
) in TEXTARENA_OFFLINE_GAMES:  # "textarena/TowerOfHanoi-v0" -> gym id "layerverl/TextArena-TowerOfHanoi-v0"
    register_env(
        f"textarena/{_game}",
        "envs.textarena_env:TextArenaEnv",
        gym_id=f"layerverl/TextArena-{_game}",
        game=_game,
    )
del _game
