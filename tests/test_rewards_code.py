"""Code reward: extraction, the test formats, scoring modes, and HumanEval's canonical solutions."""

from __future__ import annotations

import json

import pytest

from envs.rewards.code_reward import parse_tests
from layerverl.rewards import CODE_KEYS, compute_score, extract_code

LIMITS = {"timeout_s": 3.0, "memory_mb": 512}


def _fence(code: str) -> str:
    return f"```python\n{code}```"


def test_extract_last_fenced_block():
    text = "```python\nx = 1\n```\nbetter:\n```py\nx = 2\n```\n"
    assert extract_code(text) == "x = 2\n"
    assert extract_code("no code") is None


def test_assert_list_fraction_and_binary():
    gt = {"assert_case": ["assert add(1, 2) == 3", "assert add(2, 2) == 4", "assert add(0, 0) == 1"]}
    code = _fence("def add(a, b):\n    return a + b\n")
    fraction = compute_score("mbpp", code, gt, score_mode="fraction", **LIMITS)
    binary = compute_score("mbpp", code, gt, **LIMITS)
    assert set(fraction) == set(binary) == set(CODE_KEYS)
    assert fraction["score"] == pytest.approx(2 / 3) and fraction["passed"] == 2
    assert binary["score"] == 0.0 and binary["acc"] == 0.0


def test_call_based_with_solution_class_and_json_ground_truth():
    gt = json.dumps({"inputs": [[1, 2], [3, 4]], "outputs": [3, 7], "fn_name": "add"})
    code = _fence("class Solution:\n    def add(self, a, b):\n        return a + b\n")
    assert compute_score("apps", code, gt, **LIMITS)["score"] == 1.0


def test_stdio_cases():
    gt = {"inputs": ["3\n1 2 3\n", "1\n5\n"], "outputs": ["6\n", "5"]}
    good = _fence("input()\nprint(sum(map(int, input().split())))\n")
    bad = _fence("input()\nprint(0)\n")
    assert compute_score("code", good, gt, **LIMITS)["score"] == 1.0
    assert compute_score("code", bad, gt, score_mode="fraction", **LIMITS)["score"] == 0.0


def test_no_code_and_bad_ground_truth_score_zero():
    assert compute_score("code", "I cannot do this", {"assert_case": ["assert f()"]})["status"] == "no_code"
    out = compute_score("code", _fence("x = 1\n"), {"weird": 1})
    assert out["score"] == 0.0 and out["status"].startswith("bad_ground_truth")
    with pytest.raises(ValueError, match="score_mode"):
        compute_score("code", _fence("x = 1\n"), {"assert_case": ["assert 1"]}, score_mode="partial")
    with pytest.raises(ValueError):
        parse_tests("not json")


def test_humaneval_canonical_solutions_pass_and_body_only_completion():
    from envs.code_task import load_humaneval

    rows = load_humaneval()
    assert len(rows) == 164
    for row in rows[:4]:
        gt = {"test": row["test"], "entry_point": row["entry_point"], "prompt": row["prompt"]}
        full = compute_score("humaneval", _fence(row["prompt"] + row["canonical_solution"]), gt, **LIMITS)
        body_only = compute_score("humaneval", _fence(row["canonical_solution"]), gt, **LIMITS)
        wrong = compute_score("humaneval", _fence(row["prompt"] + "    return None\n"), gt, **LIMITS)
        assert (full["score"], body_only["score"], wrong["score"]) == (1.0, 1.0, 0.0), row["task_id"]


# -- which block is the program (extract_code's rule) ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "program"),
    [
        (
            "Example:\n```text\n>>> add(1, 2)\n3\n```\nImplementation:\n```python\ndef add(a, b):\n    return a + b\n```\n",
            "def add(a, b):\n    return a + b\n",
        ),
        (
            "```python\nx = 1\n```\nthen\n```\nx = 2\n```\n",
            "x = 1\n",
        ),  # a tagged block beats a later untagged one
        ("```\nx = 2\n```\n```bash\nrm -rf /\n```\n", "x = 2\n"),  # other languages never run
        ("```Python3 title=solution\nx = 3\n```", "x = 3\n"),
        ("````python\nprint('```')\n````\n", "print('```')\n"),  # a longer fence holds a shorter one
        ("~~~py\nx = 4\n~~~\n", "x = 4\n"),
        ("  ```python\n  x = 5\n  ```\n", "x = 5\n"),  # an indented fence's indentation is removed
        ("```python\ndef f():\n    return 6\n", "def f():\n    return 6\n"),  # cut short: runs to the end
        (
            "def f():\n    return 7\n",
            "def f():\n    return 7\n",
        ),  # no fence at all: the whole text, if it compiles
        ("The answer is to add the numbers.", None),  # prose does not compile
        ("```text\nonly an example\n```\n", None),  # fences, but none is Python or untagged
        ("", None),
    ],
)
def test_extraction_rule(text, program):
    assert extract_code(text) == program


def test_example_in_text_fence_then_python_fence_scores_one():
    gt = {"test": "def check(candidate):\n    assert candidate(2, 3) == 5\n", "entry_point": "add"}
    response = (
        "For example:\n```text\nadd(2, 3) -> 5\n```\nHere is the implementation:\n"
        "```python\ndef add(a, b):\n    return a + b\n```\nIt adds the two numbers."
    )
    assert compute_score("humaneval", response, gt, **LIMITS)["score"] == 1.0


# -- comparisons the candidate cannot reach ----------------------------------------------------------------
SECRET = "expected-7f3c9a1e"  # only the tests know it: a candidate that returns it has read the tests
SECRET_CHECK = {
    "test": f"def check(candidate):\n    assert candidate(7) == {SECRET!r}\n",
    "entry_point": "answer",
}
SECRET_ASSERTS = {"assert_case": [f"assert answer(7) == {SECRET!r}"]}
READ_THE_TESTS = {
    "caller_frame_constants": """
        import sys
        def answer(x):
            frame = sys._getframe(1)
            while frame is not None:
                for const in frame.f_code.co_consts:
                    if isinstance(const, str) and const.startswith("expected-"):
                        return const
                frame = frame.f_back
            return None
        """,
    "inspect_stack": """
        import inspect
        def answer(x):
            for info in inspect.stack():
                for name, value in {**info.frame.f_locals, **info.frame.f_globals}.items():
                    if isinstance(value, str) and "expected-" in value:
                        return value[value.index("expected-"):][:17]
            return None
        """,
    "gc_objects": """
        import gc, re
        def answer(x):
            for obj in gc.get_objects():
                texts = []
                if isinstance(obj, dict):
                    texts = [v for v in obj.values() if isinstance(v, str)] + [
                        t for v in obj.values() if isinstance(v, list) for t in v if isinstance(t, str)]
                elif type(obj).__name__ == "function":
                    texts = [c for c in obj.__code__.co_consts if isinstance(c, str)]
                for text in texts:
                    found = re.search(r"expected-[0-9a-f]{8}", text)
                    if found:
                        return found.group()
            return None
        """,
    "bytecode_of_the_caller": """
        import dis, sys
        def answer(x):
            code = sys._getframe(1).f_code
            for instruction in dis.get_instructions(code):
                if isinstance(instruction.argval, str) and instruction.argval.startswith("expected-"):
                    return instruction.argval
            return None
        """,
    "parent_process_memory": """
        import os, re
        def answer(x):
            pid = os.getppid()
            try:
                with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
                    for line in maps:
                        start, end = (int(v, 16) for v in line.split()[0].split("-"))
                        if "rw" not in line.split()[1]:
                            continue
                        try:
                            mem.seek(start)
                            found = re.search(rb"expected-[0-9a-f]{8}", mem.read(end - start))
                        except (OSError, OverflowError, ValueError):
                            continue
                        if found:
                            return found.group().decode()
            except OSError:
                pass
            return None
        """,
}
GAME_EQUALITY = {
    "eq_always_true": "class Anything:\n    def __eq__(self, other):\n        return True\n"
    "    __hash__ = object.__hash__\ndef answer(x):\n    return Anything()\n",
    "str_subclass_eq": "class S(str):\n    def __eq__(self, other):\n        return True\n"
    "    __hash__ = str.__hash__\ndef answer(x):\n    return S('wrong')\n",
    "flipping_bool": "class Flip:\n    state = False\n    def __bool__(self):\n        Flip.state = not Flip.state\n"
    "        return Flip.state\ndef answer(x):\n    return Flip()\n",
}


@pytest.mark.parametrize(
    "ground_truth", [SECRET_CHECK, SECRET_ASSERTS], ids=["check_candidate", "assert_list"]
)
@pytest.mark.parametrize("attack", sorted(READ_THE_TESTS) + sorted(GAME_EQUALITY))
def test_gaming_the_comparison_scores_zero(attack, ground_truth):
    import textwrap

    code = textwrap.dedent(READ_THE_TESTS.get(attack) or GAME_EQUALITY[attack])
    if attack == "flipping_bool":  # a predicate tested both ways: a plain bool cannot pass both
        ground_truth = {"assert_case": ["assert answer(7)", "assert not answer(8)"]}
    assert compute_score("code", _fence(code), ground_truth, **LIMITS)["score"] == 0.0


def test_a_correct_answer_to_the_secret_tests_scores_one():
    code = _fence(f"def answer(x):\n    return {SECRET!r} if x == 7 else None\n")
    assert compute_score("code", code, SECRET_CHECK, **LIMITS)["score"] == 1.0
    assert compute_score("code", code, SECRET_ASSERTS, **LIMITS)["score"] == 1.0


def test_call_based_outputs_must_be_plain_data():
    gt = {"inputs": [[1]], "outputs": ["abc"], "fn_name": "f"}
    fake = _fence(
        "class Fake:\n    def __repr__(self):\n        return 'abc'\ndef f(x):\n    return Fake()\n"
    )
    subclass = _fence("class S(str):\n    pass\ndef f(x):\n    return S('abc')\n")
    assert compute_score("apps", fake, gt, **LIMITS)["score"] == 0.0
    assert compute_score("apps", subclass, gt, **LIMITS)["score"] == 0.0
    assert compute_score("apps", _fence("def f(x):\n    return 'abc'\n"), gt, **LIMITS)["score"] == 1.0


def test_candidate_objects_pass_back_as_handles():
    """MBPP tests that build the candidate's own objects still work: handles go back, only plain data compares."""
    code = _fence(
        "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def max_chain_length(pairs, n):\n    pairs = sorted(pairs, key=lambda p: p.b)\n    count, end = 0, None\n"
        "    for p in pairs:\n        if end is None or p.a > end:\n            count, end = count + 1, p.b\n    return count\n"
    )
    gt = {
        "assert_case": [
            "assert max_chain_length([Pair(5, 24), Pair(15, 25), Pair(27, 40), Pair(50, 60)], 4) == 3",
            "assert Pair(1, 2).b == 2",
        ]
    }
    assert compute_score("mbpp", code, gt, score_mode="fraction", **LIMITS)["score"] == 1.0
    compared = {"assert_case": ["assert Pair(1, 2) == Pair(1, 2)"]}  # a handle never meets ==
    assert compute_score("mbpp", code, compared, **LIMITS)["score"] == 0.0
