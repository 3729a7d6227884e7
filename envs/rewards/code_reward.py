"""Code answers: run the program in the response (`extract_code`) against the tests in the sandbox.

`ground_truth` (a dict or its JSON string) is one of:
- HumanEval: `{"test": "def check(candidate): ...", "entry_point": "f", "prompt"?: "def f(...):..."}`;
  the prompt is prepended when the code does not define `entry_point` itself (a body-only completion).
- assert list (MBPP): `{"assert_case" | "test_list": ["assert f(1) == 2", ...], "test_setup_code"?: str}`.
- call-based (APPS/LiveCodeBench): `{"inputs": [[args], ...], "outputs": [value, ...], "fn_name": "f"}`.
- stdin/stdout: `{"inputs": ["1 2\\n", ...], "outputs": ["3\\n", ...]}`, compared line by line, trailing
  whitespace ignored.
A test passes only if it ran to its end; with `score_mode="binary"` the score is 1.0 when all pass, with
`"fraction"` it is the pass fraction. The candidate's return values reach the comparison only as plain data
(exact builtin types, rebuilt on the trusted side): call-based outputs are compared here, outside the sandbox;
asserts run in a process of their own that the candidate cannot read (harness.py). Anything else fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

from envs.rewards.sandbox import SandboxLimits, new_nonce, run_python

SCORE_MODES = ("binary", "fraction")
CODE_KEYS = ("score", "acc", "passed", "total", "timed_out", "status")
PYTHON_TAGS = ("python", "py", "python3", "py3")
MAX_UNFENCED_CHARS = 200_000  # an unfenced response longer than this is not tried as a program
_OPENING_FENCE = re.compile(r"( {0,3})(`{3,}|~{3,})[ \t]*([^\n`]*)")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, content) of each fenced block, in order, as CommonMark reads fences.

    A fence is a line of 3+ backticks or tildes indented at most 3 spaces; its language is the first word of
    the info string after it, lower-cased ("" when untagged); the block ends at a line holding only a fence of
    the same character and at least the same length, or at the end of the text (a response cut short). The
    opening fence's indentation is removed from the content lines.
    """
    lines = text.split("\n")
    blocks, index = [], 0
    while index < len(lines):
        opening = _OPENING_FENCE.fullmatch(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence, info = len(opening[1]), opening[2], opening[3].strip()
        closing = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        body = []
        while index < len(lines) and not closing.fullmatch(lines[index]):
            line = lines[index]
            body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
            index += 1
        if index >= len(lines) and body and not body[-1]:  # unclosed: the text's final newline ends no line
            body.pop()
        index += 1  # past the closing fence
        language = re.match(r"[\w+-]*", info).group().lower()
        blocks.append((language, "".join(line + "\n" for line in body)))
    return blocks


def extract_code(text: str) -> str | None:
    """The program in a response, or None. The rule, in order:

    1. the last fenced block tagged python, py, python3 or py3 (any case);
    2. else the last untagged fenced block;
    3. else, only when the response has no fence at all, the whole response if it compiles as Python.
    Prose and blocks in other languages (```text, ```bash, ```json, ...) are never run; an unclosed last fence
    runs to the end of the response. A response with an example in a ```text block and the implementation in a
    ```python block runs the implementation.
    """
    if not isinstance(text, str):
        return None
    blocks = fenced_blocks(text)
    for wanted in (PYTHON_TAGS, ("",)):
        chosen = [content for language, content in blocks if language in wanted]
        if chosen:
            return chosen[-1]
    if blocks or len(text) > MAX_UNFENCED_CHARS or not text.strip():
        return None
    try:
        compile(text, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    return text


def parse_tests(ground_truth: Any) -> dict[str, Any]:
    """Normalize `ground_truth` to {"kind": "check"|"call"|"stdio", ...}; ValueError on an unknown format."""
    if isinstance(ground_truth, str):
        try:
            ground_truth = json.loads(ground_truth)
        except json.JSONDecodeError as exc:
            raise ValueError(f"code ground_truth is not JSON: {exc}") from exc
    if not isinstance(ground_truth, dict):
        raise ValueError(f"code ground_truth must be a dict, got {type(ground_truth).__name__}")
    if "test" in ground_truth and "entry_point" in ground_truth:
        entry_point = ground_truth["entry_point"]
        return {
            "kind": "check",
            "tests": [f"{ground_truth['test']}\ncheck({entry_point})"],
            "entry_point": entry_point,
            "prompt": ground_truth.get("prompt", ""),
            "setup": "",
        }
    asserts = ground_truth.get("assert_case") or ground_truth.get("test_list")
    if asserts:
        return {
            "kind": "check",
            "tests": list(asserts),
            "entry_point": None,
            "prompt": "",
            "setup": ground_truth.get("test_setup_code") or "",
        }
    if "inputs" in ground_truth and "outputs" in ground_truth:
        inputs, outputs = list(ground_truth["inputs"]), list(ground_truth["outputs"])
        if len(inputs) != len(outputs):
            raise ValueError(f"code ground_truth has {len(inputs)} inputs but {len(outputs)} outputs")
        kind = "call" if ground_truth.get("fn_name") else "stdio"
        return {"kind": kind, "inputs": inputs, "outputs": outputs, "fn_name": ground_truth.get("fn_name")}
    raise ValueError(
        "code ground_truth needs {test, entry_point}, {assert_case|test_list} or {inputs, outputs}; "
        f"got keys {sorted(ground_truth)}"
    )


def compute_code_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    *,
    score_mode: str = "binary",
    timeout_s: float = 5.0,
    memory_mb: int = 1024,
    max_tests: int | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Run the extracted code against the tests; keys: `CODE_KEYS` (`status` says why a run failed).

    `timeout_s` is the wall-clock limit of one sandbox run (all asserts / all calls, or one stdin case).
    """
    if score_mode not in SCORE_MODES:
        raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {score_mode!r}")
    result = {"score": 0.0, "acc": 0.0, "passed": 0, "total": 0, "timed_out": False, "status": "ok"}
    try:
        spec = parse_tests(ground_truth)
    except ValueError as exc:
        return {**result, "status": f"bad_ground_truth: {exc}"}
    if spec["kind"] == "check" and spec["entry_point"] is None and extra_info and extra_info.get("prompt"):
        spec["prompt"] = extra_info["prompt"]
    code = extract_code(solution_str)
    limits = SandboxLimits(wall_s=timeout_s, cpu_s=max(1, int(timeout_s + 0.999)), memory_mb=memory_mb)
    run = {"check": _run_check, "call": _run_call, "stdio": _run_stdio}[spec["kind"]]
    total = _count(spec, max_tests)
    result["total"] = total
    if code is None:
        return {**result, "status": "no_code"}
    passed, timed_out, status = run(code, spec, limits, max_tests, score_mode == "binary")
    score = passed / total if score_mode == "fraction" and total else float(passed == total and total > 0)
    return {
        **result,
        "score": float(score),
        "acc": float(passed == total and total > 0),
        "passed": passed,
        "timed_out": timed_out,
        "status": status,
    }


def _count(spec: dict[str, Any], max_tests: int | None) -> int:
    total = len(spec["tests"] if spec["kind"] == "check" else spec["inputs"])
    return total if max_tests is None else min(total, max_tests)


def _status(run: Any, default: str) -> str:
    if run.timed_out:
        return "timeout"
    if run.output_limited:
        return "output_limit"
    return default


def _run_check(code: str, spec: dict, limits: SandboxLimits, max_tests: int | None, stop_early: bool):
    """Assert-style tests in one run, in a process apart from the candidate's (harness.py); the count arrives
    behind the nonce only if the test process got to the end."""
    entry_point = spec["entry_point"]
    if entry_point and not re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        code = spec["prompt"] + code
    if spec["setup"]:
        code = spec["setup"] + "\n" + code
    tests = spec["tests"][:max_tests]
    nonce = new_nonce()
    job = {
        "mode": "check",
        "code": code,
        "tests": tests,
        "setup": spec["setup"],
        "entry_point": entry_point,
        "prompt": spec["prompt"] if entry_point else "",
    }
    run = run_python(job, limits=limits, nonce=nonce)
    passed = 0
    for line in run.result.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == nonce and fields[2] == str(len(tests)) and fields[1].isdigit():
            passed = min(int(fields[1]), len(tests))
    status = "ok" if passed == len(tests) else _status(run, "failed")
    return passed, run.timed_out, status


def _run_call(code: str, spec: dict, limits: SandboxLimits, max_tests: int | None, stop_early: bool):
    """Call-based tests in one run; expected outputs stay outside and are compared here."""
    inputs = [args if isinstance(args, list) else [args] for args in spec["inputs"][:max_tests]]
    expected = spec["outputs"][: len(inputs)]
    run = run_python(
        {"mode": "call", "code": code, "fn_name": spec["fn_name"], "inputs": inputs}, limits=limits
    )
    passed = 0
    for line in run.result.decode(errors="replace").splitlines():
        try:
            report = json.loads(line)
            index, value = int(report["case"]), json.loads(report["out"])
        except (ValueError, KeyError, TypeError):
            continue
        if 0 <= index < len(expected) and _same_value(value, expected[index]):
            passed += 1
            expected[index] = object()  # a case counts once, however often it is reported
    status = "ok" if passed == len(inputs) else _status(run, "failed")
    return passed, run.timed_out, status


def _same_value(value: Any, expected: Any) -> bool:
    """JSON-level equality; APPS-style outputs may wrap the value in a one-element list."""
    expected = json.loads(json.dumps(expected))
    return value == expected or (isinstance(expected, list) and len(expected) == 1 and value == expected[0])


def _run_stdio(code: str, spec: dict, limits: SandboxLimits, max_tests: int | None, stop_early: bool):
    """One run per stdin case; the program's stdout is compared here."""
    passed, timed_out, status = 0, False, "ok"
    for stdin, expected in list(zip(spec["inputs"], spec["outputs"], strict=True))[:max_tests]:
        run = run_python({"mode": "program", "code": code}, stdin=str(stdin).encode(), limits=limits)
        timed_out = timed_out or run.timed_out
        ok = run.returncode == 0 and run.result.strip() == b"done" and not run.output_limited
        if ok and _lines(run.stdout.decode(errors="replace")) == _lines(str(expected)):
            passed += 1
            continue
        status = _status(run, "failed")
        if stop_early:
            break
    return passed, timed_out, status


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]
