"""The environment registry: names -> entry points, mirrored into Gymnasium as `layerverl/<Name>-v0`.

Third-party packages add environments through the entry-point group `layerverl.envs`
(`myenv = "mypkg.envs:MyEnv"`); they are discovered on the first lookup, not at import, and a plugin
that fails to load gives a warning naming it instead of breaking every other env.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import gymnasium as gym

ENTRY_POINT_GROUP = "layerverl.envs"


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment: how to build it and with which default arguments."""

    name: str
    entry_point: str | Callable[..., gym.Env]
    gym_id: str
    defaults: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, EnvEntry] = {}
_plugins_loaded = False


def register_env(
    name: str, entry_point: str | Callable[..., gym.Env], *, gym_id: str | None = None, **defaults: Any
) -> EnvEntry:
    """Register `name` -> `entry_point` ("pkg.mod:Class" or a callable) with default constructor kwargs.

    The env is also registered with Gymnasium as `gym_id` (default `layerverl/<Name>-v0`).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"env name must be a non-empty string, got {name!r}")
    gym_id = gym_id or f"layerverl/{name[:1].upper()}{name[1:]}-v0"
    entry = EnvEntry(name, entry_point, gym_id, dict(defaults))
    _REGISTRY[name] = entry
    if gym_id in gym.registry:  # re-registration (e.g. a plugin overriding) replaces the old spec quietly
        del gym.registry[gym_id]
    gym.register(id=gym_id, entry_point=entry_point, kwargs=dict(defaults), disable_env_checker=True)
    return entry


def list_envs() -> list[str]:
    """Names of all registered environments, plugins included, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def make(name: str, **kwargs: Any) -> gym.Env:
    """Build a registered environment; `kwargs` override its registered defaults."""
    return build(get_entry(name), **kwargs)


def get_entry(name: str) -> EnvEntry:
    """The registry entry for `name`; an unknown name lists the registered ones."""
    if name not in _REGISTRY:
        _load_plugins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown env {name!r}; registered envs: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def build(entry: EnvEntry, **kwargs: Any) -> gym.Env:
    """Construct the env of `entry`; works in worker processes that never saw the registration."""
    return _resolve(entry.entry_point)(**{**entry.defaults, **kwargs})


def _resolve(entry_point: str | Callable[..., gym.Env]) -> Callable[..., gym.Env]:
    """Import "pkg.mod:attr" lazily, so registering an env never imports its heavy dependencies."""
    if callable(entry_point):
        return entry_point
    module_name, _, attr = entry_point.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def _load_plugins() -> None:
    """Register the envs of installed packages' `layerverl.envs` entry points (once per process)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            warnings.warn(
                f"layerverl env plugin {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2
            )
            continue
        register_env(ep.name, target)
