"""The trusted side of a sandboxed run: it executes inside the sandbox, before and around the candidate code.

Stdlib only; its source is passed to the sandbox interpreter with `-c JOB_FD RESULT_FD`. It reads its job
(JSON) from the job pipe, closes it, lowers its own resource limits (hard limits too, so the candidate cannot raise them), then
runs the candidate in one of three modes and reports on the result pipe:

- `program`: run the code as `__main__` with the test input on stdin; the caller compares stdout.
- `call`: call `fn_name` on each argument list and report each return value as JSON; the caller compares
  them with expected outputs that never enter the sandbox.
- `check`: run the code, then the test code (HumanEval `check(candidate)` or a list of asserts); only when
  every test ran to its end does it write the job's random nonce, so an early exit or a swallowed
  assertion cannot produce a pass.
"""

import builtins
import json
import os
import resource
import sys

JOB_FD, RESULT_FD = int(sys.argv[1]), int(sys.argv[2])


def _set_limits(limits):
    """Lower soft and hard limits alike; an unprivileged process can never raise a hard limit again."""
    for name, value in limits.items():
        kind = getattr(resource, name)
        soft = hard = value
        if name == "RLIMIT_CPU":  # SIGXCPU at the soft limit, SIGKILL one second later
            hard = value + 1
        resource.setrlimit(kind, (soft, hard))


def _report(write, line):
    write(RESULT_FD, (line + "\n").encode())


def _run_program(job, write):
    namespace = {"__name__": "__main__"}
    try:
        exec(compile(job["code"], "solution.py", "exec"), namespace)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    sys.stdout.flush()
    _report(write, "done")


def _run_call(job, write):
    namespace = {"__name__": "solution"}
    exec(compile(job["code"], "solution.py", "exec"), namespace)
    fn_name = job["fn_name"]
    fn = namespace.get(fn_name)
    if fn is None and "Solution" in namespace:  # LeetCode-style `class Solution` with the method
        fn = getattr(namespace["Solution"](), fn_name)
    for index, args in enumerate(job["inputs"]):
        try:
            value = fn(*args)
            out = json.dumps(value, default=repr)
        except BaseException as exc:  # one failing case must not hide the others
            out = json.dumps({"__error__": type(exc).__name__})
        _report(write, json.dumps({"case": index, "out": out}))


def _run_check(job, write, nonce):
    builtins_snapshot = dict(builtins.__dict__)
    namespace = {"__name__": "solution"}
    exec(compile(job["code"], "solution.py", "exec"), namespace)
    builtins.__dict__.update(builtins_snapshot)  # undo monkeypatching of builtins at the candidate's top level
    passed = 0
    tests = job["tests"]
    for test in tests:
        try:
            exec(compile(test, "test.py", "exec"), namespace)
            passed += 1
        except BaseException:
            pass
    _report(write, f"{nonce} {passed} {len(tests)}")


def main():
    with os.fdopen(JOB_FD, "rb") as job_file:
        job = json.loads(job_file.read())
    nonce = job.pop("nonce", "")
    write = os.write  # bound now, before the candidate can patch os
    _set_limits(job.pop("limits"))
    if job["mode"] != "program":  # only a stdin/stdout program gets input
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    mode = job["mode"]
    if mode == "program":
        _run_program(job, write)
    elif mode == "call":
        _run_call(job, write)
    else:
        _run_check(job, write, nonce)
    sys.stdout.flush()
    os._exit(0)  # skip atexit handlers and finalizers the candidate may have registered


main()
