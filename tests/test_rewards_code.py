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
