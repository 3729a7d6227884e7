"""Many environments stepped together, in this process or spread over worker processes.

The rollout code steps a batch of text envs per turn. Gymnasium's `AsyncVectorEnv` garbles Text
observations in shared memory and auto-resets, which multi-turn rollouts do not want; this runner
passes plain Python objects through pipes, never auto-resets, and steps only the envs it is given.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from envs.registry import EnvEntry, build, get_entry


@dataclass
class StepResult:
    """What one `env.step` returned."""

    observation: str
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class EnvBatch:
    """`num_envs` copies of `envs.make(name, **kwargs)`; `num_workers > 0` runs them in worker processes.

    `reset(seeds)` resets every env (env i with `seeds[i]`); `step({i: action})` steps only the listed
    envs and returns their results keyed the same way. `close()` (or leaving a `with` block) closes the envs
    and stops the workers.
    """

    def __init__(self, name: str, num_envs: int, num_workers: int = 0, **kwargs: Any):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        entry = get_entry(name)
        self.num_envs = num_envs
        self._owner = [i % num_workers for i in range(num_envs)] if num_workers else []
        self._envs = [] if num_workers else [build(entry, **kwargs) for _ in range(num_envs)]
        self._pipes: list[Connection] = []
        self._procs: list[mp.process.BaseProcess] = []
        ctx = mp.get_context("forkserver")  # safe next to torch threads, unlike fork
        for worker in range(num_workers):
            mine = [i for i in range(num_envs) if self._owner[i] == worker]
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, entry, kwargs, mine), daemon=True)
            proc.start()
            child.close()
            self._pipes.append(parent)
            self._procs.append(proc)
        for pipe in self._pipes:  # surface construction errors (bad kwargs) here, in the caller
            _unwrap(pipe.recv())

    def reset(
        self, seeds: list[int | None], options: list[dict | None] | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Reset all envs; env i gets `seeds[i]` and `options[i]`."""
        if len(seeds) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} seeds, got {len(seeds)}")
        options = options or [None] * self.num_envs
        calls = {i: ("reset", {"seed": seeds[i], "options": options[i]}) for i in range(self.num_envs)}
        results = self._call(calls)  # once: calling it per env reset every env num_envs times
        return [results[i] for i in range(self.num_envs)]

    def step(self, actions: dict[int, str]) -> dict[int, StepResult]:
        """Step env i with `actions[i]` for each listed i; the others are left alone."""
        results = self._call({i: ("step", {"action": a}) for i, a in actions.items()})
        return {i: StepResult(*r) for i, r in results.items()}

    def call(self, method: str, indices: list[int] | None = None) -> dict[int, Any]:
        """Call `env.unwrapped.<method>()` on the given envs (e.g. "expert_action")."""
        indices = list(range(self.num_envs)) if indices is None else indices
        return self._call({i: (method, {}) for i in indices})

    def close(self) -> None:
        """Close every env, here or in its worker (which then exits); the first error a close raised is re-raised."""
        envs, pipes, procs = self._envs, self._pipes, self._procs
        self._envs, self._pipes, self._procs = [], [], []
        errors: list[Exception] = []
        for env in envs:
            try:
                env.close()
            except Exception as exc:  # close the others first
                errors.append(exc)
        for pipe in pipes:
            with contextlib.suppress(OSError):  # a worker that already died
                pipe.send(None)
        for pipe in pipes:  # each worker answers once its envs are closed
            try:
                _unwrap(pipe.recv())
            except EOFError:
                pass
            except Exception as exc:
                errors.append(exc)
        for proc in procs:
            proc.join(timeout=5)
        if errors:
            raise errors[0]

    def __enter__(self) -> EnvBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, calls: dict[int, tuple[str, dict]]) -> dict[int, Any]:
        for i in calls:
            if not 0 <= i < self.num_envs:
                raise IndexError(f"env index {i} out of range 0..{self.num_envs - 1}")
        if not self._pipes:
            return {i: _apply(self._envs[i], method, kw) for i, (method, kw) in calls.items()}
        for worker, pipe in enumerate(self._pipes):  # send every worker its share, then gather
            pipe.send({i: c for i, c in calls.items() if self._owner[i] == worker})
        results: dict[int, Any] = {}
        for pipe in self._pipes:
            results.update(_unwrap(pipe.recv()))
        return results


def _apply(env: Any, method: str, kwargs: dict) -> Any:
    """Run one call on one env."""
    if method == "reset":
        return env.reset(**kwargs)
    if method == "step":
        return tuple(env.step(kwargs["action"]))
    return getattr(env.unwrapped, method)(**kwargs)


def _unwrap(message: tuple[bool, Any]) -> Any:
    """Re-raise a worker's exception in the caller, or return its payload."""
    ok, payload = message
    if not ok:
        raise payload
    return payload


def _worker(pipe: Connection, entry: EnvEntry, kwargs: dict, indices: list[int]) -> None:
    """Worker loop: build the envs, serve {index: (method, kwargs)} requests until None, then close the envs."""
    try:
        local = {i: build(entry, **kwargs) for i in indices}
        pipe.send((True, None))
    except Exception as exc:
        pipe.send((False, exc))
        return
    while (calls := pipe.recv()) is not None:
        try:
            pipe.send((True, {i: _apply(local[i], method, kw) for i, (method, kw) in calls.items()}))
        except Exception as exc:
            pipe.send((False, exc))
    try:  # None: close the envs, answer, exit
        for env in local.values():
            env.close()
        pipe.send((True, None))
    except Exception as exc:
        pipe.send((False, exc))
