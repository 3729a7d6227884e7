"""Math reward: answer extraction, a labelled equivalence set, and hard time limits."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from layerverl.rewards import MATH_KEYS, compute_score, extract_answer

EQUIVALENCE_SET = Path(__file__).parent / "data" / "math_equivalence.jsonl"
ACCURACY_FLOOR = 0.95  # measured 88/90 = 0.978 (misses: 0.\overline{3} vs 1/3, 1e-3 vs 0.001)
PATHOLOGICAL = [
    r"\boxed{9^{9^{9^{9}}}}",
    r"\boxed{10^{10^{10^{10}}}}",
    r"\boxed{(x+1)^{10^{9}}-(x+1)^{10^{9}}}",
]


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (r"so \boxed{\frac{1}{2}} and later \boxed{7}", "7"),
        (r"nested \boxed{\frac{a}{\sqrt{b}}}.", r"\frac{a}{\sqrt{b}}"),
        ("work...\n#### 1,234", "1,234"),
        ("The answer is $42$.", "42"),
        ("no marker 42", None),
        (r"\boxed{unclosed", None),
    ],
)
def test_extract_answer(text, answer):
    assert extract_answer(text) == answer


def test_equivalence_set_accuracy():
    rows = [json.loads(line) for line in EQUIVALENCE_SET.read_text().splitlines()]
    assert len(rows) >= 60
    correct, per_category = 0, Counter()
    for row in rows:
        out = compute_score("math", row["response"], row["gold"], timeout_s=5.0)
        assert set(out) == set(MATH_KEYS)
        ok = (out["score"] == 1.0) == row["equivalent"]
        correct += ok
        per_category[row["category"]] += not ok
    accuracy = correct / len(rows)
    print(
        f"math equivalence accuracy: {correct}/{len(rows)} = {accuracy:.3f}; misses by category: "
        f"{dict(+per_category)}"
    )
    assert accuracy >= ACCURACY_FLOOR


@pytest.mark.parametrize("response", PATHOLOGICAL)
def test_pathological_input_returns_zero_within_limit(response):
    compute_score("math", r"\boxed{2}", "3")  # warm the worker so startup is not timed
    start = time.monotonic()
    out = compute_score("math", response, "5", timeout_s=1.0)
    assert out["score"] == 0.0
    assert time.monotonic() - start < 2.0


def test_timeout_off_main_thread_and_worker_recovers():
    results = []
    thread = threading.Thread(
        target=lambda: results.append(compute_score("math", PATHOLOGICAL[0], "5", timeout_s=1.0))
    )
    thread.start()
    thread.join(10)
    assert results and results[0]["score"] == 0.0
    assert compute_score("math", r"\boxed{0.5}", r"\frac{1}{2}", timeout_s=5.0)["score"] == 1.0


def test_same_keys_for_every_sample():
    outs = [compute_score("math", text, "3") for text in (r"\boxed{3}", "nothing", r"\boxed{4}")]
    assert all(set(out) == set(MATH_KEYS) for out in outs)
    assert [out["score"] for out in outs] == [1.0, 0.0, 0.0]


def test_format_score_rewards_a_marked_wrong_answer_only():
    kwargs = {"format_score": 0.1}
    assert compute_score("math", "so \\boxed{31}", "30", **kwargs)["score"] == pytest.approx(0.1)
    assert compute_score("math", "so \\boxed{31}", "30", **kwargs)["acc"] == 0.0
    assert compute_score("math", "it is 30", "30", **kwargs)["score"] == 0.0  # no marked answer
    assert compute_score("math", "\\boxed{N}", "30", **kwargs)["score"] == 0.0  # a copied placeholder
    assert compute_score("math", "\\boxed{30}", "30", **kwargs)["score"] == 1.0
    assert compute_score("math", "\\boxed{31}", "30")["score"] == 0.0  # off by default


@pytest.mark.parametrize(
    "response", ["\\boxed{1 + 25}", "To solve \\boxed{1 + 25}, we add.", "\\boxed{2 \\times 13}"]
)
def test_a_restated_question_is_no_answer_to_a_numeric_gold(response):
    # GRPO on SmolLM2 learned to box the question itself ("\boxed{1 + 25}"), which math-verify evaluates to 26
    out = compute_score("math", response, "26", format_score=0.1, literal_only=True)
    assert (out["score"], out["acc"]) == (0.0, 0.0)
    assert compute_score("math", response, "26")["score"] == 1.0  # what math-verify alone says


@pytest.mark.parametrize("response", ["\\boxed{26}", "\\boxed{x = 26}", "\\boxed{26.0}", "The answer is 26."])
def test_numeric_literals_still_answer_it(response):
    assert compute_score("math", response, "26", literal_only=True)["score"] == 1.0
