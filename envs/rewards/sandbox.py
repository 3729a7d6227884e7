"""Run untrusted Python code: a separate interpreter, a throwaway identity, rlimits and, where it works, bwrap.

Layers, strongest first (the active kind is probed once and logged; `sandbox_kind()` names it):

- `bwrap`: bubblewrap namespaces (user, pid, net, ipc, uts, mount): no network, a read-only system, a private
  `/tmp`, and every process dies with the sandbox's pid 1.
- `process`: the fallback where namespaces are refused: own session and process group, cleared environment,
  fresh working directory; network and the host's world-readable files stay reachable.

Both run as an unprivileged identity (a fresh uid per run when we are root, so RLIMIT_NPROC counts only this
run and the cleanup can find every process and stray file it left), with limits on CPU time, address space,
processes, file size and open files set by the trusted harness before the candidate starts, a wall-clock
SIGKILL of the whole group, and capped output. Set `LAYERVERL_SANDBOX=process` to force the fallback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SANDBOX_KINDS = ("bwrap", "process")
NOBODY_UID = 65534
# Fresh uids are drawn from here when we run as root: far above login users, system and container ranges.
SANDBOX_UID_BASE = 1_500_000_000
SANDBOX_UID_SPAN = 1 << 24
WORLD_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
HARNESS_SOURCE = (Path(__file__).with_name("harness.py")).read_text()


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one sandboxed run; `wall_s` is enforced from outside, the rest as rlimits inside."""

    wall_s: float = 5.0
    cpu_s: int = 5
    memory_mb: int = 1024
    max_processes: int = 32
    max_file_mb: int = 4
    max_open_files: int = 64
    max_output_bytes: int = 1 << 20  # stdout + stderr + result channel, together

    def rlimits(self) -> dict[str, int]:
        """The RLIMIT_* values the harness applies to itself before running the candidate."""
        mb = 1 << 20
        return {
            "RLIMIT_CPU": int(self.cpu_s),
            "RLIMIT_AS": int(self.memory_mb) * mb,
            "RLIMIT_NPROC": int(self.max_processes),
            "RLIMIT_FSIZE": int(self.max_file_mb) * mb,
            "RLIMIT_NOFILE": int(self.max_open_files),
            "RLIMIT_CORE": 0,
        }


@dataclass
class RunResult:
    """What came back from one run: exit status, captured output, the harness's result lines."""

    returncode: int | None
    stdout: bytes
    stderr: bytes
    result: bytes
    timed_out: bool
    output_limited: bool
    wall_s: float


@dataclass(frozen=True)
class _Setup:
    kind: str
    python: str
    fresh_uid: bool  # a fresh uid per run (root) or `uid` for every run
    uid: int | None  # None: stay who we are (not root, cannot drop)


_setup: _Setup | None = None
_setup_lock = threading.Lock()


def sandbox_kind() -> str:
    """The isolation in use: "bwrap" (namespaces) or "process" (rlimits, own uid and group only)."""
    return _get_setup().kind


def run_python(
    job: dict[str, Any], *, stdin: bytes = b"", limits: SandboxLimits | None = None, nonce: str = ""
) -> RunResult:
    """Run the harness with `job` (see harness.py) in the sandbox; never raises for anything the code does."""
    setup = _get_setup()
    return _run(setup, job, stdin, limits or SandboxLimits(), nonce)


def new_nonce() -> str:
    """A random token the candidate cannot guess; the harness prints it only after all tests ran."""
    return secrets.token_hex(16)


# -- setup ------------------------------------------------------------------------------------------------
def _get_setup() -> _Setup:
    global _setup
    with _setup_lock:
        if _setup is None:
            _setup = _probe()
            logger.warning("layerverl code sandbox: isolation=%s python=%s identity=%s", _setup.kind,
                           _setup.python, _describe_identity(_setup))
        return _setup


def _describe_identity(setup: _Setup) -> str:
    if setup.fresh_uid:
        return "a fresh unprivileged uid per run"
    return "current user (not root, cannot drop)" if setup.uid is None else f"uid {setup.uid}"


def _probe() -> _Setup:
    """Pick the strongest setup that really runs a trivial job here."""
    python = _sandbox_python()
    forced = os.environ.get("LAYERVERL_SANDBOX", "")
    if forced and forced not in SANDBOX_KINDS:
        raise ValueError(f"LAYERVERL_SANDBOX must be one of {SANDBOX_KINDS}, got {forced!r}")
    kinds = [forced] if forced else [k for k in SANDBOX_KINDS if k != "bwrap" or shutil.which("bwrap")]
    identities = [(True, None), (False, NOBODY_UID)] if os.geteuid() == 0 else [(False, None)]
    probe_job = {"mode": "program", "code": "print(6 * 7)"}
    for kind in kinds:
        for fresh_uid, uid in identities:
            setup = _Setup(kind, python, fresh_uid, uid)
            result = _run(setup, probe_job, b"", SandboxLimits(wall_s=20.0), "")
            if result.returncode == 0 and result.stdout.strip() == b"42":
                return setup
            logger.info("sandbox setup %s failed: rc=%s %s", setup, result.returncode, result.stderr[-300:])
    raise RuntimeError("no code sandbox works here: even a plain subprocess failed to run python")


def _sandbox_python() -> str:
    """An interpreter the unprivileged identity can execute (ours may live under root's 0700 home)."""
    override = os.environ.get("LAYERVERL_SANDBOX_PYTHON")
    if override:
        return override
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), shutil.which("python3") or "",
                  "/usr/bin/python3"]
    for candidate in candidates:
        if candidate and os.path.exists(candidate) and _others_can_execute(os.path.realpath(candidate)):
            return os.path.realpath(candidate)
    return os.path.realpath(sys.executable)


def _others_can_execute(path: str) -> bool:
    """True if every directory on the way is world-searchable and the file world-executable."""
    parts = Path(path).parents
    if any(not os.stat(p).st_mode & stat.S_IXOTH for p in parts):
        return False
    return bool(os.stat(path).st_mode & stat.S_IXOTH)


# -- one run ---------------------------------------------------------------------------------------------
def _run(setup: _Setup, job: dict[str, Any], stdin: bytes, limits: SandboxLimits, nonce: str) -> RunResult:
    uid = SANDBOX_UID_BASE + secrets.randbelow(SANDBOX_UID_SPAN) if setup.fresh_uid else setup.uid
    workdir = tempfile.mkdtemp(prefix="layerverl-sandbox-")
    if uid is not None:
        os.chown(workdir, uid, uid)
    job_read, job_write = os.pipe()
    result_read, result_write = os.pipe()
    os.set_inheritable(job_read, True)
    os.set_inheritable(result_write, True)
    payload = json.dumps({**job, "nonce": nonce, "limits": limits.rlimits()}).encode()
    start = time.monotonic()
    proc = None
    try:
        argv, env, cwd = _command(setup, workdir, job_read, result_write)
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                pass_fds=(job_read, result_write), start_new_session=True, close_fds=True,
                user=uid, group=uid, extra_groups=[] if uid is not None else None,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return RunResult(None, b"", str(exc).encode(), b"", False, False, time.monotonic() - start)
        finally:
            os.close(job_read)
            os.close(result_write)
            job_read = result_write = -1
        _write_all_background(job_write, payload)
        job_write = -1
        return _collect(proc, stdin, result_read, limits, start)
    finally:
        for fd in (job_read, job_write, result_write, result_read):
            if fd >= 0:
                _close_quietly(fd)
        if proc is not None:
            _kill_everything(proc, uid if setup.fresh_uid else None)
        shutil.rmtree(workdir, ignore_errors=True)
        if setup.fresh_uid and setup.kind == "process":
            _remove_files_of(uid)


def _command(setup: _Setup, workdir: str, job_fd: int, result_fd: int) -> tuple[list[str], dict, str]:
    """argv, environment and cwd of the sandboxed interpreter running the harness."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONIOENCODING": "utf-8"}
    python_argv = [setup.python, "-I", "-c", HARNESS_SOURCE, str(job_fd), str(result_fd)]
    if setup.kind == "process":
        return python_argv, {**env, "HOME": workdir, "TMPDIR": workdir}, workdir
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--clearenv"]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    prefix = str(Path(setup.python).parent.parent)
    if not prefix.startswith("/usr"):  # an interpreter outside /usr (pyenv, conda): make its tree visible
        argv += ["--ro-bind", prefix, prefix]
    if os.path.exists("/etc/ld.so.cache"):
        argv += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", workdir, "/sandbox",
             "--chdir", "/sandbox"]
    for key, value in {**env, "HOME": "/sandbox", "TMPDIR": "/tmp"}.items():
        argv += ["--setenv", key, value]
    return argv + ["--", *python_argv], {}, workdir


def _write_all_background(fd: int, data: bytes) -> None:
    """Feed the job pipe from a thread so a job larger than the pipe buffer cannot deadlock us."""

    def feed() -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            pass  # the sandbox died before reading its job
        finally:
            _close_quietly(fd)

    threading.Thread(target=feed, daemon=True).start()


def _collect(proc: subprocess.Popen, stdin: bytes, result_fd: int, limits: SandboxLimits,
             start: float) -> RunResult:
    """Feed stdin and read stdout, stderr and the result channel until exit, the deadline or the output cap."""
    deadline = start + limits.wall_s
    buffers: dict[int, bytearray] = {}
    selector = selectors.DefaultSelector()
    for fd in (proc.stdout.fileno(), proc.stderr.fileno(), result_fd):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
        buffers[fd] = bytearray()
    stdin_fd = proc.stdin.fileno()
    os.set_blocking(stdin_fd, False)
    if stdin:
        selector.register(stdin_fd, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    pending = memoryview(stdin)
    timed_out = output_limited = False
    exited_at = None
    while selector.get_map():
        now = time.monotonic()
        if now >= deadline:
            timed_out = proc.poll() is None
            break
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > 0.2:  # a leftover process holds the pipes open
            break
        for key, _ in selector.select(timeout=min(0.05, deadline - now)):
            fd = key.fd
            if fd == stdin_fd:
                try:
                    pending = pending[os.write(fd, pending[:65536]):]
                except (BrokenPipeError, OSError):
                    pending = memoryview(b"")
                if not pending:
                    selector.unregister(fd)
                    proc.stdin.close()
                continue
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                selector.unregister(fd)
                continue
            buffers[fd] += chunk
        if sum(len(b) for b in buffers.values()) > limits.max_output_bytes:
            output_limited = True
            break
    selector.close()
    if proc.poll() is None:
        _kill_group(proc)
    try:
        returncode = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        returncode = None
    return RunResult(returncode, bytes(buffers[proc.stdout.fileno()]), bytes(buffers[proc.stderr.fileno()]),
                     bytes(buffers[result_fd]), timed_out, output_limited, time.monotonic() - start)


# -- cleanup ---------------------------------------------------------------------------------------------
def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _kill_everything(proc: subprocess.Popen, uid: int | None) -> None:
    """SIGKILL the run's process group and, with a fresh uid, every process still running as that uid."""
    _kill_group(proc)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    if uid is not None:
        for _ in range(50):
            survivors = _pids_of(uid)
            if not survivors:
                break
            for pid in survivors:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        logger.warning("sandbox process %d did not exit after SIGKILL", proc.pid)


def _pids_of(uid: int) -> list[int]:
    """Pids of live (not zombie) processes whose real uid is `uid`."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)] and not fields.get("State", "").strip().startswith("Z"):
            pids.append(int(entry.name))
    return pids


def _remove_files_of(uid: int) -> None:
    """Delete what the run left in the world-writable directories (the `process` kind shares the host's /tmp)."""
    for directory in WORLD_WRITABLE_DIRS:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                continue


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
