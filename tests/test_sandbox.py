"""Adversarial suite for the code sandbox: every attack scores 0 and leaves nothing behind."""

from __future__ import annotations

import dataclasses
import os
import socket
import textwrap
import time
from pathlib import Path

import pytest

from envs.rewards import sandbox as sandbox_module
from layerverl.rewards import compute_score, sandbox_kind

SQUARE_TESTS = {"test": "def check(candidate):\n    assert candidate(2) == 4\n    assert candidate(3) == 9\n",
                "entry_point": "square"}
LIMITS = {"timeout_s": 1.0, "memory_mb": 256}
MARKER = f"layerverl-sandbox-test-{os.getpid()}"
ESCAPE_PATHS = [f"/tmp/{MARKER}", f"/var/tmp/{MARKER}", f"/dev/shm/{MARKER}", f"/root/{MARKER}",
                str(Path(__file__).resolve().parent / MARKER)]

CORRECT = "def square(x):\n    return x * x\n"
ATTACKS = {
    "infinite_loop": "while True:\n    pass\n",
    "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
    "memory_bomb": "blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))\n",
    "write_outside": "".join(
        f"try:\n    open({p!r}, 'w').write('escaped')\nexcept OSError:\n    pass\n" for p in ESCAPE_PATHS
    ) + "def square(x):\n    return 0\n",
    "outlive_call": textwrap.dedent(f"""\
        import os, subprocess, time
        subprocess.Popen(["python3", "-c", "import time; time.sleep(60)  # {MARKER}"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            os.execvp("python3", ["python3", "-c", "import time; time.sleep(60)  # {MARKER}"])
        time.sleep(0.3)
        """),
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\n" + CORRECT,
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
    "recursion_bomb": "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)\n" + CORRECT,
    "ignore_signals": "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
                      "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n",
}


def _fence(code: str) -> str:
    return f"Here is my solution.\n```python\n{code}```\n"


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
        in_range = sandbox_module.SANDBOX_UID_BASE <= uid < sandbox_module.SANDBOX_UID_BASE + sandbox_module.SANDBOX_UID_SPAN
        if not zombie and (in_range or MARKER.encode() in cmdline):
            found.append(int(entry.name))
    return found


@pytest.fixture(params=["active", "process"])
def isolation(request, monkeypatch):
    """Run each attack under the active isolation and under the forced `process` fallback."""
    setup = sandbox_module._get_setup()
    if request.param == "process":
        monkeypatch.setattr(sandbox_module, "_setup", dataclasses.replace(setup, kind="process"))
    return sandbox_module._get_setup().kind


def test_sandbox_kind_is_reported():
    assert sandbox_kind() in sandbox_module.SANDBOX_KINDS
    print(f"active sandbox: {sandbox_kind()}")


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_scores_zero_and_leaves_nothing(attack, isolation):
    start = time.monotonic()
    out = compute_score("code", _fence(ATTACKS[attack]), SQUARE_TESTS, **LIMITS)
    elapsed = time.monotonic() - start
    assert out["score"] == 0.0, out
    assert elapsed < 4 * LIMITS["timeout_s"] + 2, elapsed
    assert _sandbox_pids() == []
    for path in ESCAPE_PATHS:
        assert not os.path.exists(path), path
    assert not [p for p in Path("/tmp").glob("layerverl-sandbox-*")], "work directory left behind"


def test_network_is_unreachable(isolation):
    if isolation == "process":
        pytest.skip("the process fallback has no network namespace")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=0.5).sendall(b'hi')\n" + CORRECT
    try:
        out = compute_score("code", _fence(code), SQUARE_TESTS, **LIMITS)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert out["score"] == 0.0


def test_correct_solutions_still_pass(isolation):
    assert compute_score("code", _fence(CORRECT), SQUARE_TESTS, **LIMITS)["score"] == 1.0
    stdio = {"inputs": ["2 3\n", "10 -4\n"], "outputs": ["5\n", "6\n"]}
    program = "a, b = map(int, input().split())\nprint(a + b)\n"
    assert compute_score("code", _fence(program), stdio, **LIMITS)["score"] == 1.0
