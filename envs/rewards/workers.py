"""Persistent worker processes with a hard per-call deadline, for scorers that can hang (math-verify).

A signal-based timeout only works on the main thread and cannot interrupt C code that holds the GIL
(`9^{9^{9^9}}` in sympy); so each call runs in a long-lived worker process, the caller waits on a pipe
with a deadline, and a worker that misses it is SIGKILLed and replaced. Safe to use from any thread.
"""

from __future__ import annotations

import importlib
import os
import queue
import subprocess
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

STARTUP_TIMEOUT_S = 120.0


class CallTimeout(Exception):
    """The call missed its deadline; its worker was killed and replaced."""


def _worker_main(request_fd: int, reply_fd: int, preload: str) -> None:
    """Worker loop: import `preload` modules once, then run (module, function, args) requests until EOF."""
    requests, replies = Connection(request_fd, writable=False), Connection(reply_fd, readable=False)
    for module in filter(None, preload.split(",")):
        importlib.import_module(module)
    replies.send(("ready", None))
    while True:
        try:
            module, name, args = requests.recv()
        except EOFError:
            return
        try:
            replies.send(("ok", getattr(importlib.import_module(module), name)(*args)))
        except Exception as exc:  # report, keep serving
            replies.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    """One worker: a fresh interpreter (not a fork of a possibly multithreaded caller, and no re-import of
    the caller's `__main__` as multiprocessing's spawn does) talking pickles over two pipes."""

    def __init__(self, preload: tuple[str, ...]):
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        code = f"from {__name__} import _worker_main; _worker_main({request_read}, {reply_write}, {','.join(preload)!r})"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=(request_read, reply_write),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(request_read)
        os.close(reply_write)
        self.requests = Connection(request_write, readable=False)
        self.replies = Connection(reply_read, writable=False)
        self.ready = False

    def wait_ready(self) -> None:
        if not self.ready:
            if not self.replies.poll(STARTUP_TIMEOUT_S):
                raise RuntimeError("reward worker did not start")
            self.replies.recv()
            self.ready = True

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.requests.close()
        self.replies.close()


class WorkerPool:
    """`num_workers` persistent processes; `call(fn, args, timeout_s)` runs `fn(*args)` in one of them.

    `fn` must be a module-level function (it is sent by name). On timeout the worker is killed, a fresh
    one takes its place (started in the background) and `CallTimeout` is raised.
    """

    def __init__(self, num_workers: int = 1, preload: tuple[str, ...] = ()):
        if num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {num_workers}")
        self.num_workers = num_workers
        self.preload = preload
        self._idle: queue.Queue[_Worker] = queue.Queue()
        for _ in range(num_workers):
            self._idle.put(_Worker(preload))

    def call(self, fn: Callable[..., Any], args: tuple, timeout_s: float) -> Any:
        """Run `fn(*args)` in a worker; raise `CallTimeout` after `timeout_s`, RuntimeError if `fn` raised."""
        worker = self._idle.get()
        try:
            worker.wait_ready()
            worker.requests.send((fn.__module__, fn.__name__, args))
            if not worker.replies.poll(timeout_s):
                worker.kill()
                worker = _Worker(self.preload)
                raise CallTimeout(f"{fn.__name__} took longer than {timeout_s} s")
            status, value = worker.replies.recv()
        except (EOFError, OSError, BrokenPipeError) as exc:  # the worker died (e.g. out of memory)
            worker.kill()
            worker = _Worker(self.preload)
            raise RuntimeError(f"reward worker died: {exc!r}") from exc
        finally:
            self._idle.put(worker)
        if status == "error":
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        """Stop all workers."""
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return
