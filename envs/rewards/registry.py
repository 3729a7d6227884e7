"""The reward registry: data_source -> scoring function, with verl's `compute_score` signature.

Lookup order for a name: the built-in registry (names and aliases), then installed entry points in the
group `layerverl.rewards` (entry-point name = data_source), then verl's `default_compute_score` for the
data sources verl scores itself. `get_reward` also resolves references: "pkg.mod:fn" and "path/file.py:fn".
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

RewardOutput = float | dict[str, Any]
RewardFn = Callable[..., RewardOutput]

ENTRY_POINT_GROUP = "layerverl.rewards"
# verl scores its own data sources; to envs it is an external scorer named by reference, not an import.
VERL_DEFAULT_SCORER = "verl.utils.reward_score:default_compute_score"
# What verl 0.9.1's `default_compute_score` routes itself (plus any name starting with "aime").
VERL_DATA_SOURCES = frozenset(
    {
        "openai/gsm8k",
        "lighteval/MATH",
        "DigitalLearningGmbH/MATH-lighteval",
        "HuggingFaceH4/MATH-500",
        "math_dapo",
        "math",
        "math_dapo_reasoning",
        "numina_aops_forum",
        "numina_synthetic_math",
        "numina_amc_aime",
        "numina_synthetic_amc",
        "numina_cn_k12",
        "numina_olympiads",
        "codecontests",
        "apps",
        "codeforces",
        "taco",
        "hiyouga/geometry3k",
        "searchR1_nq",
        "searchR1_triviaqa",
        "searchR1_popqa",
        "searchR1_hotpotqa",
        "searchR1_2wikimultihopqa",
        "searchR1_musique",
        "searchR1_bamboogle",
    }
)

REWARD_REGISTRY: dict[str, RewardFn | str] = {}  # a str value is a lazy "pkg.mod:fn" / entry-point reference
_registry_lock = threading.RLock()
_entry_points_scanned_for: tuple[str, ...] | None = None  # sys.path at the last scan
_entry_point_names: set[str] = set()


def register_reward(
    name: str, fn: RewardFn | str | None = None, *, aliases: Iterable[str] = ()
) -> Callable[[RewardFn], RewardFn] | RewardFn | str:
    """Register a scorer under `name` and `aliases`: `@register_reward("math", aliases=[...])` or a direct call.

    `fn` may be a reference string ("pkg.mod:fn", "file.py:fn"), imported on first use. Registering a
    different function under a taken name raises.
    """

    def decorator(target: RewardFn | str) -> RewardFn | str:
        with _registry_lock:
            for key in (name, *aliases):
                if not isinstance(key, str) or not key:
                    raise ValueError(f"reward name must be a non-empty string, got {key!r}")
                existing = REWARD_REGISTRY.get(key)
                if existing is not None and existing != target:
                    raise ValueError(f"reward {key!r} is already registered to {existing!r}")
                REWARD_REGISTRY[key] = target
        return target

    return decorator if fn is None else decorator(fn)


def list_rewards() -> list[str]:
    """All registered names and aliases, entry points included, sorted."""
    _load_entry_points()
    return sorted(REWARD_REGISTRY)


def get_reward(ref: str) -> RewardFn:
    """The scorer for a data_source name, an entry point, "pkg.mod:fn" or "path/file.py:fn".

    Raises ValueError naming the registered rewards when `ref` resolves to nothing.
    """
    if not isinstance(ref, str) or not ref:
        raise ValueError(f"reward reference must be a non-empty string, got {ref!r}")
    if ref not in REWARD_REGISTRY:
        _load_entry_points()
    with _registry_lock:
        target = REWARD_REGISTRY.get(ref)
        if isinstance(target, str):
            target = REWARD_REGISTRY[ref] = _load_reference(target)
    if target is not None:
        return target
    if ":" in ref:
        return _load_reference(ref)
    if ref in VERL_DATA_SOURCES or ref.startswith("aime"):
        return _verl_default
    raise ValueError(
        f"unknown reward {ref!r}; registered: {', '.join(sorted(REWARD_REGISTRY))}; verl's: "
        f"{', '.join(sorted(VERL_DATA_SOURCES - set(REWARD_REGISTRY)))}; or give 'pkg.mod:fn' or "
        "'path/file.py:fn'"
    )


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any
) -> RewardOutput:
    """Score one response with the reward registered for `data_source` (verl's signature, drop-in)."""
    return get_reward(data_source)(data_source, solution_str, ground_truth, extra_info, **kwargs)


def compute_score_batch(
    data_sources: list[str],
    solution_strs: list[str],
    ground_truths: list[Any],
    extra_infos: list[dict | None] | None = None,
    *,
    max_workers: int = 1,
    **kwargs: Any,
) -> list[RewardOutput]:
    """Score a batch (verl BatchRewardManager's names) with `max_workers` threads.

    When any result is a dict, every result becomes a dict with the union of keys (missing ones None), so
    the per-sample columns verl logs line up.
    """
    n = len(solution_strs)
    if not len(data_sources) == len(ground_truths) == n:
        raise ValueError(
            f"batch lengths differ: {len(data_sources)} data_sources, {n} solution_strs, "
            f"{len(ground_truths)} ground_truths"
        )
    extra_infos = list(extra_infos) if extra_infos is not None else [None] * n
    score = partial(_score_one, kwargs=kwargs)
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as executor:
        results = list(executor.map(score, data_sources, solution_strs, ground_truths, extra_infos))
    if not any(isinstance(r, dict) for r in results):
        return results
    keys = list(dict.fromkeys(key for r in results if isinstance(r, dict) for key in r))
    rows = [r if isinstance(r, dict) else {"score": r} for r in results]
    return [{key: row.get(key) for key in keys} for row in rows]


def make_router(sources: dict[str, str] | None = None) -> RewardFn:
    """A `compute_score` that routes the data sources in `sources` (data_source -> reference) first.

    References are resolved now, so a bad config fails before any work. Use it as verl's custom reward.
    """
    resolved = {source: get_reward(ref) for source, ref in (sources or {}).items()}

    def routed_compute_score(
        data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any
    ) -> RewardOutput:
        fn = resolved.get(data_source) or get_reward(data_source)
        return fn(data_source, solution_str, ground_truth, extra_info, **kwargs)

    return routed_compute_score


def _score_one(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None, kwargs: dict[str, Any]
) -> RewardOutput:
    return compute_score(data_source, solution_str, ground_truth, extra_info, **kwargs)


def _verl_default(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: dict | None = None, **kwargs: Any
) -> RewardOutput:
    """verl's own router, resolved by reference like any plugin and only when used (it imports torch)."""
    return _load_reference(VERL_DEFAULT_SCORER)(data_source, solution_str, ground_truth, extra_info, **kwargs)


def _load_reference(ref: str) -> RewardFn:
    """Import "pkg.mod:fn" or "path/to/file.py:fn"."""
    location, _, attr = ref.rpartition(":")
    if not location or not attr:
        raise ValueError(f"reward reference must look like 'pkg.mod:fn' or 'path/file.py:fn', got {ref!r}")
    if location.endswith(".py"):
        path = Path(location).expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"reward file {str(path)!r} (from {ref!r}) does not exist")
        spec = importlib.util.spec_from_file_location(f"layerverl_reward_{path.stem}_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise ValueError(f"cannot import reward module {location!r} (from {ref!r}): {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{ref!r}: {attr!r} is not a function in {location!r}")
    if inspect.iscoroutinefunction(fn):
        raise ValueError(f"{ref!r} is an async function; layerverl rewards are called synchronously")
    return fn


def _load_entry_points() -> None:
    """Register installed `layerverl.rewards` entry points lazily (again only when sys.path changed)."""
    global _entry_points_scanned_for
    with _registry_lock:
        if _entry_points_scanned_for == tuple(sys.path):
            return
        _entry_points_scanned_for = tuple(sys.path)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _entry_point_names:
                continue
            if ep.name in REWARD_REGISTRY:
                warnings.warn(
                    f"reward entry point {ep.name!r} ({ep.value}) ignored: the name is taken", stacklevel=3
                )
                continue
            _entry_point_names.add(ep.name)
            REWARD_REGISTRY[ep.name] = ep.value
