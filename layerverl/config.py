"""Config checks that run before any work: a bad key or value stops with one line naming it and the choices."""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import OmegaConf

from layerverl.algos import ADVANTAGE_ESTIMATORS, advantage_options
from layerverl.layers import load_profile, resolve_layers, uses_profile

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
# change how fast a run goes, not what it computes (at most its floating-point rounding): a run or sweep started
# before a speed switch existed, or with another setting of it, still resumes
SPEED_ONLY_KEYS = (("backend", "threads"), ("trainer", "reuse_prefix"), ("trainer", "capture_prefix"))
# describe a model, never change what a run computes (added after runs were recorded, which still resume)
DESCRIPTIVE_KEYS = (("model", "learns"),)


class ConfigError(ValueError):
    """A config key or value a user got wrong."""


def normalize_argv(argv: list[str]) -> list[str]:
    """Rewrite a `layer=` value that is not a file in configs/layer/ into `layer=custom layer.spec=<value>`.

    Hydra cannot take numbers or lists as group choices; as `layer.spec` they also sweep (`-m layer=all,0,1`).
    """
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "layer" and value not in group_choices("layer"):
            out += ["layer=custom", f"layer.spec={value}"]
        else:
            out.append(arg)
    return out


def run_identity(config: dict) -> dict:
    """A resolved run config without its speed-only settings: what resuming and sweeps compare, so a run
    started at 1 thread may finish at 2."""
    identity = {key: dict(value) if isinstance(value, dict) else value for key, value in config.items()}
    for section, key in SPEED_ONLY_KEYS + DESCRIPTIVE_KEYS:
        identity.get(section, {}).pop(key, None)
    algo = identity.get("algo") or {}
    if algo.get("name") in ADVANTAGE_ESTIMATORS and isinstance(algo.get("advantage"), dict):
        # options an estimator does not take never changed a run (GRPO's config used to carry GiGPO's)
        taken = advantage_options(algo["name"])
        identity["algo"] = {**algo, "advantage": {k: v for k, v in algo["advantage"].items() if k in taken}}
    return identity


def group_choices(group: str) -> list[str]:
    """The YAML choices of a config group (ConfigStore extras not listed)."""
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))


def model_configs() -> dict[str, dict]:
    """Each configs/model/*.yaml's `model` node by model name (global-package files nest it under `model:`)."""
    nodes = {}
    for path in sorted((CONFIG_DIR / "model").glob("*.yaml")):
        node = OmegaConf.to_container(OmegaConf.load(path))
        node = node.get("model", node) if "name" not in node else node
        nodes[node["name"]] = node
    return nodes


def env_target(cfg) -> str:
    """What a model's `learns` names: the env, or env/game for a family of games (textarena/TowerOfHanoi-v0)."""
    game = (cfg.env.get("kwargs") or {}).get("game")
    return f"{cfg.env.name}/{game}" if game else cfg.env.name


def untrained_env_warning(cfg) -> str | None:
    """One line when the run's model was neither warm-started on nor measured to learn its env (the model
    config's `learns`: an env name covers all its games), naming the models that were; None when it was, when
    `learns` is null (a general pretrained model), or when `model.path` points at a checkpoint of the user's
    own."""
    target = env_target(cfg)

    def knows(learns) -> bool:
        return target in learns or cfg.env.name in learns

    known = model_configs()
    own = known.get(cfg.model.name, {})
    learns = cfg.model.get("learns")
    if learns is None or knows(learns) or cfg.model.path != own.get("path"):
        return None
    others = [name for name, node in known.items() if knows(node.get("learns") or ())]
    instead = (
        f"use {' or '.join(f'model={name}' for name in others)} instead"
        if others
        else f"no model here is known to learn env={target} yet: start from a pretrained one "
        "(model=smollm2-135m-instruct, or an HF folder via model.path=)"
    )
    return (
        f"warning: model={cfg.model.name} is not known to learn env={target} (no warm start there; it "
        f"learns {', '.join(learns) or 'nothing measured'}), so RL will likely stay near 0% success; {instead}"
    )


def check_overrides(overrides: list[str]) -> None:
    """Compose the config with `overrides` and turn any failure into one `ConfigError` line."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from layerverl.config_values import ConfigValueError, check_values

    overrides = [o for o in overrides if not o.startswith(("hydra.", "hydra/", "-"))]
    groups = {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        plain = [o.input_line for o in parsed if not o.is_sweep_override()]
        swept = [
            f"{o.get_key_element()}={v}"
            for o in parsed
            if o.is_sweep_override()
            for v in o.sweep_string_iterator()
        ]
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            for extra in [[]] + [[s] for s in swept]:  # each swept value checked on its own
                cfg = compose("config", overrides=plain + extra)
                _check_layer_specs(cfg)
                # the same group choices without value overrides: each key's default gives its type
                choices = [o for o in plain + extra if o.split("=")[0].lstrip("+~") in groups]
                check_values(cfg, compose("config", overrides=choices))
    except ConfigValueError as exc:
        raise ConfigError(str(exc)) from None
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_one_line(exc, overrides)) from None
    except ConfigError:
        raise
    except ValueError as exc:  # an unreadable profile
        raise ConfigError(f"layer.profile: {exc}") from None


def _check_layer_specs(cfg) -> None:
    """`layer.spec` and `layer.boost` before the model loads: topK/bottomK against the profile's depth, the rest
    against any depth (the model's is checked when it loads)."""
    for key in ("spec", "boost"):
        spec, profile = cfg.layer[key], cfg.layer.profile
        if spec is not None:
            depth = len(load_profile(profile)) if uses_profile(spec) and profile is not None else 4096
            check_layer_spec(spec, depth, profile, key=f"layer.{key}")


def _one_line(exc: Exception, overrides: list[str]) -> str:
    """Name the offending key or choice and the valid ones."""
    text = str(exc)
    if match := re.search(r"Could not find '(\w+)/([^']+)'", text):
        group, value = match.groups()
        return f"{group}={value}: no such choice; valid: {', '.join(group_choices(group))}"
    if match := re.search(r"full_key: ([\w.]+)", text) or re.search(r"Could not override '([\w.]+)'", text):
        key = match.group(1)
        parent, valid = _nearest_keys(key.rpartition(".")[0], overrides)
        return f"{key}: unknown key; valid keys{' of ' + parent if parent else ''}: {', '.join(valid)}"
    return " ".join(text.split())


def _nearest_keys(parent: str, overrides: list[str]) -> tuple[str, list[str]]:
    """The closest existing node at or above `parent`, and its keys, in the config composed with the
    group choices of `overrides`."""
    from hydra import compose, initialize_config_dir

    groups = [o for o in overrides if o.split("=")[0] in {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}]
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=groups)
    while parent and not hasattr(OmegaConf.select(cfg, parent), "keys"):
        parent = parent.rpartition(".")[0]
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return parent, sorted(node.keys())


def check_layer_spec(
    spec: object, num_layers: int, profile: str | None = None, key: str = "layer.spec"
) -> list[int]:
    """Resolve a layer spec against the model's depth, as a ConfigError naming `key` when it is bad."""
    try:
        return resolve_layers(spec, num_layers, profile)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
