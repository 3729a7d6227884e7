"""Adversarial suite for the code sandbox: every attack scores 0 and leaves nothing behind, under bwrap and under
the `unshare` fallback (set LAYERVERL_SANDBOX=bwrap|unshare to run one only, as .ci/run does).

An attack that escapes returns the right answer, so an escape scores 1 and the test fails on the score itself,
not only on a side effect we happened to look for.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import textwrap
import threading
import time
from pathlib import Path

import pytest

from envs.rewards import sandbox as sandbox_module
from envs.rewards.sandbox import ISOLATING_KINDS, SandboxUnavailableError
from layerverl.rewards import compute_score, sandbox_kind

SQUARE_TESTS = {
    "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n",
    "entry_point": "square",
}
LIMITS = {"timeout_s": 1.0, "memory_mb": 256}  # resource attacks: short, to keep the suite fast
# attacks that end at once when contained, and correct solutions: room for a loaded machine, so an escape has
# time to finish (and score 1) and a right answer is never cut short
ROOMY = {"timeout_s": 10.0, "memory_mb": 256}
MARKER = f"layerverl-attack-test-{os.getpid()}"
SHARED_DIR = f"/tmp/{MARKER}-shared"  # world-writable, outside the sandbox, owned by us
ESCAPE_PATHS = [
    f"/tmp/{MARKER}",
    f"/var/tmp/{MARKER}",
    f"/dev/shm/{MARKER}",
    f"/root/{MARKER}",
    f"{SHARED_DIR}/{MARKER}",
    str(Path(__file__).resolve().parent / MARKER),
]
SECRET = f"/tmp/{MARKER}-secret"  # world-readable host file
REPO_FILE = str(Path(__file__).resolve())

CORRECT = "def square(x):\n    return x * x\n"
ATTACKS = {
    "infinite_loop": "while True:\n    pass\n",
    "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "memory_bomb": "blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))\n",
    "write_outside": "".join(
        f"try:\n    open({p!r}, 'w').write('escaped')\nexcept OSError:\n    pass\n" for p in ESCAPE_PATHS
    )
    + "def square(x):\n    return 0\n",
    "outlive_call": textwrap.dedent(f"""\
        import os, subprocess, time
        subprocess.Popen(["python3", "-c", "import time; time.sleep(60)  # {MARKER}"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            os.execvp("python3", ["python3", "-c", "import time; time.sleep(60)  # {MARKER}"])
        time.sleep(0.3)
        """),
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n"
    + CORRECT,
    "sys_exit_before_tests": CORRECT + "import sys\nsys.exit(0)\n",
    "os_exit_before_tests": CORRECT + "import os\nos._exit(0)\n",
    "exit_inside_candidate": "def square(x):\n    raise SystemExit(0)\n",
    "fake_assertion_error": "import builtins\nbuiltins.AssertionError = type('Fake', (Exception,), {})\n"
    "def square(x):\n    return 0\n",
    "monkeypatch_and_forge": textwrap.dedent("""\
        import atexit, builtins, os
        builtins.isinstance = lambda *a: True
        atexit.register(lambda: print("PASSED"))
        for fd in range(3, 32):
            try:
                os.write(fd, b"0123456789abcdef0123456789abcdef 1 1\\n")
            except OSError:
                pass
        def square(x):
            return 0
        """),
    "huge_output": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    "recursion_bomb": "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)\n"
    + CORRECT,
    "ignore_signals": "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
    "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n",
}


def _fence(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}```\n"


def _square_if(condition_code: str) -> str:
    """A candidate that answers right only when `condition_code` (a function `escaped()`) returns True."""
    return condition_code + "\ndef square(x):\n    return x * x if escaped() else 0\n"


def _sandbox_pids() -> list[int]:
    """Live processes running as a sandbox uid or carrying the test marker."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = Path(entry.path, "status").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes()
        except OSError:
            continue
        uid = int(status.split("Uid:")[1].split()[0])
        zombie = "State:\tZ" in status
        in_range = (
            sandbox_module.SANDBOX_UID_BASE
            <= uid
            < sandbox_module.SANDBOX_UID_BASE + sandbox_module.SANDBOX_UID_SPAN
        )
        if not zombie and (in_range or MARKER.encode() in cmdline):
            found.append(int(entry.name))
    return found


_SETUPS: dict[str, object] = {}


def _kinds() -> list[str]:
    forced = os.environ.get(sandbox_module.SANDBOX_ENV)
    return [forced] if forced in ISOLATING_KINDS else list(ISOLATING_KINDS)


@pytest.fixture(params=_kinds())
def isolation(request, monkeypatch):
    """Each attack under bubblewrap and under the `unshare` fallback; a kind that fails here fails the test,
    except bwrap where it is not installed and not asked for."""
    kind = request.param
    if kind not in _SETUPS:
        monkeypatch.setenv(sandbox_module.SANDBOX_ENV, kind)
        monkeypatch.setattr(sandbox_module, "_setup", None)
        try:
            _SETUPS[kind] = sandbox_module._get_setup()
        except SandboxUnavailableError as exc:
            if (
                kind == "bwrap"
                and sandbox_module._bwrap_binary() is None
                and kind not in os.environ.get(sandbox_module.SANDBOX_ENV, "")
            ):
                pytest.skip(f"bubblewrap is not installed: {exc}")
            raise
    monkeypatch.setattr(sandbox_module, "_setup", _SETUPS[kind])
    assert sandbox_kind() == kind
    return kind


@pytest.fixture
def host_files():
    """A world-readable secret and a world-writable directory on the host, removed afterwards."""
    Path(SECRET).write_text("host secret")
    os.chmod(SECRET, 0o644)
    os.makedirs(SHARED_DIR, exist_ok=True)
    os.chmod(SHARED_DIR, 0o777 | stat.S_ISVTX)
    yield
    Path(SECRET).unlink(missing_ok=True)
    for path in Path(SHARED_DIR).glob("*"):
        path.unlink()
    os.rmdir(SHARED_DIR)


def test_sandbox_kind_is_reported(isolation):
    assert sandbox_kind() in ISOLATING_KINDS
    print(f"active sandbox: {sandbox_kind()}")


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_scores_zero_and_leaves_nothing(attack, isolation, host_files):
    start = time.monotonic()
    out = compute_score("code", _fence(ATTACKS[attack]), SQUARE_TESTS, **LIMITS)
    elapsed = time.monotonic() - start
    assert out["score"] == 0.0, out
    assert elapsed < 4 * LIMITS["timeout_s"] + 2, elapsed
    assert _sandbox_pids() == []
    for path in ESCAPE_PATHS:
        assert not os.path.exists(path), path
    assert not [p for p in Path("/tmp").glob("layerverl-sandbox-*")], "work directory left behind"


class _Listener:
    """A host-side server on loopback that answers b"pong" and counts what reached it."""

    def __init__(self, family: int, kind: int, address):
        self.sock = socket.socket(family, kind)
        self.sock.bind(address)
        self.address = self.sock.getsockname()
        self.hits = 0
        if kind == socket.SOCK_STREAM:
            self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.stream = kind == socket.SOCK_STREAM
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                if self.stream:
                    conn, _ = self.sock.accept()
                    self.hits += 1
                    with conn:
                        conn.sendall(b"pong")
                else:
                    _, peer = self.sock.recvfrom(100)
                    self.hits += 1
                    self.sock.sendto(b"pong", peer)
            except (TimeoutError, OSError):
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


TCP_ESCAPE = """
        def escaped():
            import socket
            try:
                with socket.create_connection(ADDRESS[:2], timeout=1) as s:
                    return s.recv(4) == b"pong"
            except OSError:
                return False
        """  # the same client over IPv4 and IPv6

NETWORK_ATTACKS = {
    "tcp": ((socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 0)), TCP_ESCAPE),
    "tcp6": ((socket.AF_INET6, socket.SOCK_STREAM, ("::1", 0)), TCP_ESCAPE),
    "udp": (
        (socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 0)),
        """
        def escaped():
            import socket
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.settimeout(1)
                for _ in range(3):
                    s.sendto(b"ping", ADDRESS)
                return s.recv(4) == b"pong"
            except OSError:
                return False
        """,
    ),
    "abstract_unix": (
        (socket.AF_UNIX, socket.SOCK_STREAM, f"\0{MARKER}"),
        """
        def escaped():
            import socket
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(1)
                s.connect(ADDRESS)
                return s.recv(4) == b"pong"
            except OSError:
                return False
        """,
    ),
}


@pytest.mark.parametrize("attack", sorted(NETWORK_ATTACKS))
def test_network_listener_on_the_host_is_unreachable(attack, isolation):
    (family, kind, address), code = NETWORK_ATTACKS[attack]
    try:
        listener = _Listener(family, kind, address)
    except OSError as exc:  # e.g. no IPv6 on this host: nothing to reach
        pytest.skip(f"cannot listen on {address!r} here: {exc}")
    try:
        candidate = f"ADDRESS = {listener.address!r}\n" + _square_if(textwrap.dedent(code))
        out = compute_score("code", _fence(candidate), SQUARE_TESTS, **ROOMY)
    finally:
        listener.close()
    assert out["score"] == 0.0, out
    assert listener.hits == 0


def test_http_request_to_the_host_is_refused(isolation):
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (http.server's name)
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"pong")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    candidate = _square_if(
        textwrap.dedent(f"""
        def escaped():
            import urllib.request
            try:
                return urllib.request.urlopen("http://127.0.0.1:{server.server_port}/x", timeout=1).read() == b"pong"
            except OSError:
                return False
        """)
    )
    try:
        out = compute_score("code", _fence(candidate), SQUARE_TESTS, **ROOMY)
    finally:
        server.shutdown()
        server.server_close()
    assert out["score"] == 0.0, out
    assert requests == []


HOST_VIEW_ATTACKS = {
    "read_world_readable_tmp_file": f"def escaped():\n    try:\n        return open({SECRET!r}).read() == 'host secret'\n"
    "    except OSError:\n        return False\n",
    "read_the_repository": f"import os\ndef escaped():\n    return os.path.exists({REPO_FILE!r})\n",
    "read_etc_passwd": "def escaped():\n    try:\n        return 'root:' in open('/etc/passwd').read()\n"
    "    except OSError:\n        return False\n",
    "see_host_processes": "import os\ndef escaped():\n    for pid in os.listdir('/proc') if os.path.isdir('/proc') else []:\n"
    "        try:\n            if b'pytest' in open(f'/proc/{pid}/cmdline', 'rb').read():\n"
    "                return True\n        except OSError:\n            pass\n    return False\n",
    "write_shared_dir_and_read_back": f"def escaped():\n    try:\n        open({SHARED_DIR!r} + '/{MARKER}', 'w').write('x')\n"
    "        return True\n    except OSError:\n        return False\n",
    "capabilities_left": "def escaped():\n    status = open('/proc/self/status').read()\n"
    "    return status.split('CapEff:')[1].split()[0].strip('0') != ''\n",
    "mount_over_system_dir": "import ctypes\ndef escaped():\n    libc = ctypes.CDLL(None)\n"
    "    return libc.mount(b'tmpfs', b'/usr', b'tmpfs', 0, None) == 0\n",
}


@pytest.mark.parametrize("attack", sorted(HOST_VIEW_ATTACKS))
def test_host_filesystem_and_processes_are_out_of_view(attack, isolation, host_files):
    out = compute_score("code", _fence(_square_if(HOST_VIEW_ATTACKS[attack])), SQUARE_TESTS, **ROOMY)
    assert out["score"] == 0.0, out
    assert not os.path.exists(f"{SHARED_DIR}/{MARKER}")


def test_correct_solutions_still_pass(isolation):
    assert compute_score("code", _fence(CORRECT), SQUARE_TESTS, **ROOMY)["score"] == 1.0
    stdio = {"inputs": ["2 3\n", "10 -4\n"], "outputs": ["5\n", "6\n"]}
    program = "a, b = map(int, input().split())\nprint(a + b)\n"
    assert compute_score("code", _fence(program), stdio, **ROOMY)["score"] == 1.0
    scratch = (
        "import os, tempfile\nopen('here.txt', 'w').write('ok')\ntempfile.TemporaryFile().write(b'x')\n"
        + CORRECT
    )
    assert (
        compute_score("code", _fence(scratch), SQUARE_TESTS, **ROOMY)["score"] == 1.0
    )  # its own dir and /tmp


# -- failing closed ---------------------------------------------------------------------------------------
@pytest.fixture
def no_isolation(monkeypatch):
    """A host where neither bwrap nor namespaces work."""
    monkeypatch.delenv(sandbox_module.SANDBOX_ENV, raising=False)
    monkeypatch.setattr(sandbox_module, "_setup", None)
    monkeypatch.setattr(sandbox_module, "_bwrap_binary", lambda: None)
    real_works = sandbox_module._works
    monkeypatch.setattr(
        sandbox_module,
        "_works",
        lambda setup: "unshare: Operation not permitted" if setup.kind == "unshare" else real_works(setup),
    )


def test_no_isolation_refuses_to_run_code_in_one_line(no_isolation):
    with pytest.raises(SandboxUnavailableError) as error:
        compute_score("code", _fence(CORRECT), SQUARE_TESTS, **LIMITS)
    message = str(error.value)
    assert "\n" not in message and "bubblewrap" in message and "LAYERVERL_SANDBOX=unisolated" in message
    assert sandbox_module.isolation_record(True) == "unavailable"


def test_unisolated_runs_only_when_named(no_isolation, monkeypatch):
    monkeypatch.setenv(sandbox_module.SANDBOX_ENV, "unisolated")
    assert compute_score("code", _fence(CORRECT), SQUARE_TESTS, **ROOMY)["score"] == 1.0
    assert sandbox_kind() == "unisolated" == sandbox_module.isolation_record(True)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("process", "now named LAYERVERL_SANDBOX=unisolated"),
        ("docker", "must be one of bwrap, unshare, unisolated"),
    ],
)
def test_bad_sandbox_setting_fails_closed(value, message, monkeypatch):
    monkeypatch.setenv(sandbox_module.SANDBOX_ENV, value)
    monkeypatch.setattr(sandbox_module, "_setup", None)
    with pytest.raises(SandboxUnavailableError, match=message):
        sandbox_kind()


def test_a_named_isolation_that_does_not_work_is_not_replaced(no_isolation, monkeypatch):
    monkeypatch.setenv(sandbox_module.SANDBOX_ENV, "bwrap")
    with pytest.raises(SandboxUnavailableError, match="bwrap: not installed"):
        sandbox_kind()


def test_runs_record_the_isolation_in_summary_and_report(tmp_path):
    from omegaconf import OmegaConf

    from layerverl.report import write_report

    base = {"success": 0.5, "ci": [0.1, 0.9], "episodes": 4}
    for env, expected in (("code", sandbox_kind()), ("alfworld", "none (this run scores no code)")):
        cfg = OmegaConf.create({"env": {"name": env, "kwargs": {}}})
        summary = {
            "env": env,
            "algo": "grpo",
            "layers": [1],
            "num_layers": 2,
            "trainable_params": 1,
            "total_params": 2,
            "wall_time_s": 1.0,
            "iterations": 0,
            "base": {"t": base},
            "final": {"t": base},
        }
        write_report(tmp_path / env, cfg, summary, [])
        assert json.loads((tmp_path / env / "summary.json").read_text())["code_sandbox"] == expected
        assert f"code sandbox isolation: {expected}" in (tmp_path / env / "report.md").read_text()
